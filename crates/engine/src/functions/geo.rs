//! Geospatial functions: distances and directions on a sphere, point in
//! circle and polygon, geohash and H3 cells.
//!
//! Coordinates are degrees in WGS-84 order (longitude, then latitude);
//! a longitude outside [-180, 180] or a latitude outside [-90, 90] makes a
//! function return null, as Kusto does. Distances are meters on a sphere
//! of radius 6,371,010 m, the Earth radius of the S2 geometry library that
//! Kusto's geospatial functions are built on; the Kusto reference's
//! Seattle to Los Angeles example (1,546,754.35 m) comes out within 1 mm.
//! Shapes are GeoJSON values (`{"type": "Polygon", "coordinates": ...}`).

use std::str::FromStr as _;

use h3o::{CellIndex, LatLng, Resolution};
use serde_json::{Value, json};

use super::JsonFunction;
use kql::KqlType;

/// Earth radius in meters of the sphere the distance functions use.
const EARTH_RADIUS_METERS: f64 = 6_371_010.0;

/// Longest geohash Kusto accepts.
const MAX_GEOHASH_LENGTH: usize = 18;

/// Kusto's limit on the resolution difference of `geo_h3cell_children`,
/// which caps the result at 7^5 = 16,807 cells.
const MAX_H3_CHILD_LEVELS: u8 = 5;

/// Largest ring distance `geo_h3cell_rings` computes. Kusto documents a
/// limit without its value; 142 rings hold about 60,000 cells.
// NOTE: the value is a guess; only a distance of 150 is known to be too far.
const MAX_H3_RING_DISTANCE: u32 = 142;

pub const GEO_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new(
        "geo_distance_2points",
        4,
        4,
        KqlType::Real,
        geo_distance_2points,
    ),
    JsonFunction::new(
        "geo_point_in_circle",
        5,
        5,
        KqlType::Bool,
        geo_point_in_circle,
    ),
    JsonFunction::new("geo_azimuth", 4, 4, KqlType::Real, geo_azimuth),
    JsonFunction::new(
        "geo_point_in_polygon",
        3,
        3,
        KqlType::Bool,
        geo_point_in_polygon,
    ),
    JsonFunction::new(
        "geo_point_to_geohash",
        2,
        3,
        KqlType::String,
        geo_point_to_geohash,
    ),
    JsonFunction::new(
        "geo_geohash_to_central_point",
        1,
        1,
        KqlType::Dynamic,
        geo_geohash_to_central_point,
    ),
    JsonFunction::new(
        "geo_geohash_to_polygon",
        1,
        1,
        KqlType::Dynamic,
        geo_geohash_to_polygon,
    ),
    JsonFunction::new(
        "geo_geohash_neighbors",
        1,
        1,
        KqlType::Dynamic,
        geo_geohash_neighbors,
    ),
    JsonFunction::new(
        "geo_point_to_h3cell",
        2,
        3,
        KqlType::String,
        geo_point_to_h3cell,
    ),
    JsonFunction::new("geo_h3cell_level", 1, 1, KqlType::Long, geo_h3cell_level),
    JsonFunction::new(
        "geo_h3cell_parent",
        1,
        2,
        KqlType::String,
        geo_h3cell_parent,
    ),
    JsonFunction::new(
        "geo_h3cell_children",
        1,
        2,
        KqlType::Dynamic,
        geo_h3cell_children,
    ),
    JsonFunction::new(
        "geo_h3cell_to_central_point",
        1,
        1,
        KqlType::Dynamic,
        geo_h3cell_to_central_point,
    ),
    JsonFunction::new(
        "geo_h3cell_to_polygon",
        1,
        1,
        KqlType::Dynamic,
        geo_h3cell_to_polygon,
    ),
    JsonFunction::new(
        "geo_h3cell_neighbors",
        1,
        1,
        KqlType::Dynamic,
        geo_h3cell_neighbors,
    ),
    JsonFunction::new("geo_h3cell_rings", 2, 2, KqlType::Dynamic, geo_h3cell_rings),
];

/// A valid (longitude, latitude) pair in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    longitude: f64,
    latitude: f64,
}

impl Point {
    fn new(longitude: f64, latitude: f64) -> Option<Point> {
        let valid = longitude.is_finite()
            && latitude.is_finite()
            && (-180.0..=180.0).contains(&longitude)
            && (-90.0..=90.0).contains(&latitude);
        valid.then_some(Point {
            longitude,
            latitude,
        })
    }

    /// Reads the point from two arguments; null, text or out of range
    /// gives `None`.
    fn from_args(longitude: &Value, latitude: &Value) -> Option<Point> {
        Point::new(longitude.as_f64()?, latitude.as_f64()?)
    }

    /// Reads a GeoJSON position `[longitude, latitude]`.
    fn from_position(position: &Value) -> Option<Point> {
        let items = position.as_array()?;
        if items.len() < 2 {
            return None;
        }
        Point::from_args(&items[0], &items[1])
    }

    fn to_geojson(self) -> Value {
        json!({"type": "Point", "coordinates": [self.longitude, self.latitude]})
    }
}

/// Central angle between two points in radians (haversine formula).
fn central_angle(a: Point, b: Point) -> f64 {
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let half_dlat = (lat2 - lat1) / 2.0;
    let half_dlon = (b.longitude - a.longitude).to_radians() / 2.0;
    let h = half_dlat.sin().powi(2) + lat1.cos() * lat2.cos() * half_dlon.sin().powi(2);
    2.0 * h.sqrt().min(1.0).asin()
}

fn distance_meters(a: Point, b: Point) -> f64 {
    central_angle(a, b) * EARTH_RADIUS_METERS
}

/// `geo_distance_2points(lon1, lat1, lon2, lat2)`: meters between two points.
fn geo_distance_2points(args: &[Value]) -> Value {
    match (
        Point::from_args(&args[0], &args[1]),
        Point::from_args(&args[2], &args[3]),
    ) {
        (Some(a), Some(b)) => json!(distance_meters(a, b)),
        _ => Value::Null,
    }
}

/// `geo_point_in_circle(lon, lat, center_lon, center_lat, radius)`: whether
/// the point lies within `radius` meters of the center.
fn geo_point_in_circle(args: &[Value]) -> Value {
    let point = Point::from_args(&args[0], &args[1]);
    let center = Point::from_args(&args[2], &args[3]);
    let radius = args[4].as_f64().filter(|r| r.is_finite() && *r >= 0.0);
    match (point, center, radius) {
        (Some(point), Some(center), Some(radius)) => {
            Value::Bool(distance_meters(point, center) <= radius)
        }
        _ => Value::Null,
    }
}

/// `geo_azimuth(lon1, lat1, lon2, lat2)`: the initial direction of the
/// great circle from the first point to the second, in radians clockwise
/// from north, in [0, 2π). Null for equal points, which have no direction.
fn geo_azimuth(args: &[Value]) -> Value {
    let (Some(a), Some(b)) = (
        Point::from_args(&args[0], &args[1]),
        Point::from_args(&args[2], &args[3]),
    ) else {
        return Value::Null;
    };
    if a == b {
        return Value::Null;
    }
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dlon = (b.longitude - a.longitude).to_radians();
    let y = dlon.sin() * lat2.cos();
    let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlon.cos();
    json!(y.atan2(x).rem_euclid(std::f64::consts::TAU))
}

/// The rings of one polygon: the outer ring first, then holes.
type Rings = Vec<Vec<Point>>;

/// Reads a GeoJSON Polygon or MultiPolygon. A ring must be closed and have
/// at least three distinct corners; otherwise the shape is invalid.
fn polygons(shape: &Value) -> Option<Vec<Rings>> {
    let object = shape.as_object()?;
    let coordinates = object.get("coordinates")?.as_array()?;
    let read_polygon = |rings: &Value| -> Option<Rings> {
        let mut rings = rings.as_array()?;
        // A polygon wrapped in one more array, as `pack_array(p.coordinates)`
        // builds it, is read as the polygon; Kusto accepts that form too.
        if rings.len() == 1
            && rings[0]
                .get(0)
                .and_then(|ring| ring.get(0))
                .is_some_and(Value::is_array)
        {
            rings = rings[0].as_array()?;
        }
        if rings.is_empty() {
            return None;
        }
        rings.iter().map(read_ring).collect()
    };
    match object.get("type")?.as_str()? {
        "Polygon" => Some(vec![read_polygon(&Value::Array(coordinates.clone()))?]),
        "MultiPolygon" => coordinates.iter().map(read_polygon).collect(),
        _ => None,
    }
}

fn read_ring(ring: &Value) -> Option<Vec<Point>> {
    let points: Vec<Point> = ring
        .as_array()?
        .iter()
        .map(Point::from_position)
        .collect::<Option<_>>()?;
    if points.len() < 4 || points.first() != points.last() {
        return None;
    }
    let mut distinct: Vec<Point> = Vec::new();
    for point in &points {
        if !distinct.contains(point) {
            distinct.push(*point);
        }
    }
    (distinct.len() >= 3 && ring_area(&points).abs() > 0.0).then_some(points)
}

/// Twice the signed planar area of a closed ring, in square degrees.
fn ring_area(ring: &[Point]) -> f64 {
    ring.windows(2)
        .map(|pair| pair[0].longitude * pair[1].latitude - pair[1].longitude * pair[0].latitude)
        .sum()
}

/// Even-odd test of a point against a closed ring, on the longitude and
/// latitude plane.
fn ring_contains(ring: &[Point], point: Point) -> bool {
    let mut inside = false;
    for pair in ring.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if (a.latitude > point.latitude) != (b.latitude > point.latitude) {
            let crossing = a.longitude
                + (point.latitude - a.latitude) / (b.latitude - a.latitude)
                    * (b.longitude - a.longitude);
            if point.longitude < crossing {
                inside = !inside;
            }
        }
    }
    inside
}

/// `geo_point_in_polygon(lon, lat, polygon)`: whether the point lies in the
/// Polygon or MultiPolygon, outside its holes.
// NOTE: edges are straight lines in longitude and latitude. Kusto follows
// great circles, so a point within meters of a long edge may differ.
fn geo_point_in_polygon(args: &[Value]) -> Value {
    let (Some(point), Some(shapes)) = (Point::from_args(&args[0], &args[1]), polygons(&args[2]))
    else {
        return Value::Null;
    };
    let inside = shapes.iter().any(|rings| {
        ring_contains(&rings[0], point) && !rings[1..].iter().any(|hole| ring_contains(hole, point))
    });
    Value::Bool(inside)
}

// Geohash: base-32 text of interleaved longitude and latitude bits.

const GEOHASH_ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The bounds of a geohash cell: (min longitude, min latitude, max
/// longitude, max latitude).
type Bounds = (f64, f64, f64, f64);

fn geohash_encode(point: Point, length: usize) -> String {
    let (mut longitude, mut latitude) = ((-180.0f64, 180.0f64), (-90.0f64, 90.0f64));
    let mut text = String::with_capacity(length);
    let mut even_bit = true;
    while text.len() < length {
        let mut value = 0usize;
        for _ in 0..5 {
            let (range, coordinate) = if even_bit {
                (&mut longitude, point.longitude)
            } else {
                (&mut latitude, point.latitude)
            };
            let middle = (range.0 + range.1) / 2.0;
            value <<= 1;
            if coordinate >= middle {
                value |= 1;
                range.0 = middle;
            } else {
                range.1 = middle;
            }
            even_bit = !even_bit;
        }
        text.push(GEOHASH_ALPHABET[value] as char);
    }
    text
}

fn geohash_bounds(hash: &str) -> Option<Bounds> {
    if hash.is_empty() || hash.len() > MAX_GEOHASH_LENGTH {
        return None;
    }
    let (mut longitude, mut latitude) = ((-180.0f64, 180.0f64), (-90.0f64, 90.0f64));
    let mut even_bit = true;
    for byte in hash.bytes() {
        let value = GEOHASH_ALPHABET.iter().position(|&c| c == byte)?;
        for shift in (0..5).rev() {
            let range = if even_bit {
                &mut longitude
            } else {
                &mut latitude
            };
            let middle = (range.0 + range.1) / 2.0;
            if (value >> shift) & 1 == 1 {
                range.0 = middle;
            } else {
                range.1 = middle;
            }
            even_bit = !even_bit;
        }
    }
    Some((longitude.0, latitude.0, longitude.1, latitude.1))
}

/// `geo_point_to_geohash(lon, lat[, accuracy])`: the geohash of the point
/// with 1 to 18 characters (5 by default); empty when invalid.
fn geo_point_to_geohash(args: &[Value]) -> Value {
    let length = match args.get(2) {
        None => Some(5),
        Some(value) => value
            .as_i64()
            .filter(|n| (1..=MAX_GEOHASH_LENGTH as i64).contains(n))
            .map(|n| n as usize),
    };
    match (Point::from_args(&args[0], &args[1]), length) {
        (Some(point), Some(length)) => Value::String(geohash_encode(point, length)),
        _ => Value::Null,
    }
}

fn geohash_arg(value: &Value) -> Option<Bounds> {
    geohash_bounds(value.as_str()?)
}

/// `geo_geohash_to_central_point(hash)`: the center of the cell as a
/// GeoJSON Point.
fn geo_geohash_to_central_point(args: &[Value]) -> Value {
    match geohash_arg(&args[0]) {
        Some((west, south, east, north)) => Point::new((west + east) / 2.0, (south + north) / 2.0)
            .map_or(Value::Null, Point::to_geojson),
        None => Value::Null,
    }
}

/// `geo_geohash_to_polygon(hash)`: the cell as a GeoJSON Polygon, counter
/// clockwise from its south-west corner.
fn geo_geohash_to_polygon(args: &[Value]) -> Value {
    match geohash_arg(&args[0]) {
        Some((west, south, east, north)) => json!({
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        }),
        None => Value::Null,
    }
}

/// `geo_geohash_neighbors(hash)`: the up to eight cells of the same length
/// around the cell. Cells past a pole are left out; longitudes wrap.
fn geo_geohash_neighbors(args: &[Value]) -> Value {
    let Some(hash) = args[0].as_str() else {
        return Value::Null;
    };
    let Some((west, south, east, north)) = geohash_bounds(hash) else {
        return Value::Null;
    };
    let (width, height) = (east - west, north - south);
    let center = ((west + east) / 2.0, (south + north) / 2.0);
    // The order of Kusto's output for the reference example.
    const DIRECTIONS: [(f64, f64); 8] = [
        (-1.0, -1.0),
        (-1.0, 1.0),
        (1.0, -1.0),
        (0.0, 1.0),
        (-1.0, 0.0),
        (1.0, 1.0),
        (1.0, 0.0),
        (0.0, -1.0),
    ];
    let mut neighbors = Vec::new();
    for (dx, dy) in DIRECTIONS {
        let latitude = center.1 + dy * height;
        if !(-90.0..=90.0).contains(&latitude) {
            continue;
        }
        let longitude = (center.0 + dx * width + 540.0).rem_euclid(360.0) - 180.0;
        if let Some(point) = Point::new(longitude, latitude) {
            neighbors.push(Value::String(geohash_encode(point, hash.len())));
        }
    }
    Value::Array(neighbors)
}

// H3 cells, through the h3o crate.

fn h3_cell(value: &Value) -> Option<CellIndex> {
    CellIndex::from_str(value.as_str()?).ok()
}

fn h3_resolution(value: &Value) -> Option<Resolution> {
    let number = value.as_i64()?;
    Resolution::try_from(u8::try_from(number).ok()?).ok()
}

fn cell_text(cell: CellIndex) -> Value {
    Value::String(cell.to_string())
}

fn lat_lng_point(position: LatLng) -> Value {
    json!({"type": "Point", "coordinates": [position.lng(), position.lat()]})
}

/// `geo_point_to_h3cell(lon, lat[, resolution])`: the H3 cell of the point
/// at resolution 0 to 15 (6 by default); empty when invalid.
fn geo_point_to_h3cell(args: &[Value]) -> Value {
    let resolution = match args.get(2) {
        None => Some(Resolution::Six),
        Some(value) => h3_resolution(value),
    };
    let point = Point::from_args(&args[0], &args[1]);
    match (point, resolution) {
        (Some(point), Some(resolution)) => match LatLng::new(point.latitude, point.longitude) {
            Ok(position) => cell_text(position.to_cell(resolution)),
            Err(_) => Value::Null,
        },
        _ => Value::Null,
    }
}

/// `geo_h3cell_level(cell)`: the cell's resolution.
fn geo_h3cell_level(args: &[Value]) -> Value {
    h3_cell(&args[0]).map_or(Value::Null, |cell| json!(u8::from(cell.resolution())))
}

/// `geo_h3cell_parent(cell[, resolution])`: the parent at `resolution`
/// (one level up by default); empty when invalid.
fn geo_h3cell_parent(args: &[Value]) -> Value {
    let Some(cell) = h3_cell(&args[0]) else {
        return Value::Null;
    };
    let resolution = match args.get(1) {
        Some(value) => h3_resolution(value),
        None => cell.resolution().pred(),
    };
    resolution
        .and_then(|resolution| cell.parent(resolution))
        .map_or(Value::Null, cell_text)
}

/// `geo_h3cell_children(cell[, resolution])`: the children at `resolution`
/// (one level down by default), at most five levels down.
fn geo_h3cell_children(args: &[Value]) -> Value {
    let Some(cell) = h3_cell(&args[0]) else {
        return Value::Null;
    };
    let resolution = match args.get(1) {
        Some(value) => h3_resolution(value),
        None => cell.resolution().succ(),
    };
    let Some(resolution) = resolution else {
        return Value::Null;
    };
    let (level, target) = (u8::from(cell.resolution()), u8::from(resolution));
    if target < level || target - level > MAX_H3_CHILD_LEVELS {
        return Value::Null;
    }
    Value::Array(cell.children(resolution).map(cell_text).collect())
}

/// `geo_h3cell_to_central_point(cell)`: the cell's center as a GeoJSON Point.
fn geo_h3cell_to_central_point(args: &[Value]) -> Value {
    h3_cell(&args[0]).map_or(Value::Null, |cell| lat_lng_point(LatLng::from(cell)))
}

/// `geo_h3cell_to_polygon(cell)`: the cell's boundary as a closed GeoJSON
/// Polygon.
fn geo_h3cell_to_polygon(args: &[Value]) -> Value {
    let Some(cell) = h3_cell(&args[0]) else {
        return Value::Null;
    };
    let mut ring: Vec<Value> = cell
        .boundary()
        .iter()
        .map(|vertex| json!([vertex.lng(), vertex.lat()]))
        .collect();
    if let Some(first) = ring.first().cloned() {
        ring.push(first);
    }
    json!({"type": "Polygon", "coordinates": [ring]})
}

/// `geo_h3cell_neighbors(cell)`: the cells that share an edge with the cell.
fn geo_h3cell_neighbors(args: &[Value]) -> Value {
    let Some(cell) = h3_cell(&args[0]) else {
        return Value::Null;
    };
    let neighbors: Vec<Value> = cell
        .grid_disk::<Vec<_>>(1)
        .into_iter()
        .filter(|neighbor| *neighbor != cell)
        .map(cell_text)
        .collect();
    Value::Array(neighbors)
}

/// `geo_h3cell_rings(cell, distance)`: an array of rings, ring k holding
/// the cells at grid distance k from the cell (ring 0 is the cell).
fn geo_h3cell_rings(args: &[Value]) -> Value {
    let Some(cell) = h3_cell(&args[0]) else {
        return Value::Null;
    };
    let Some(distance) = args[1]
        .as_i64()
        .and_then(|d| u32::try_from(d).ok())
        .filter(|d| *d <= MAX_H3_RING_DISTANCE)
    else {
        return Value::Null;
    };
    let mut rings: Vec<Vec<Value>> = vec![Vec::new(); distance as usize + 1];
    for (neighbor, k) in cell.grid_disk_distances::<Vec<_>>(distance) {
        rings[k as usize].push(cell_text(neighbor));
    }
    Value::Array(rings.into_iter().map(Value::Array).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_distance_and_azimuth() {
        let distance = geo_distance_2points(&[
            json!(-122.407628),
            json!(47.578557),
            json!(-118.275287),
            json!(34.019056),
        ]);
        assert!((distance.as_f64().unwrap() - 1_546_754.351_973_81).abs() < 1e-3);
        let azimuth = geo_azimuth(&[json!(5), json!(10), json!(10), json!(-40)]);
        assert!((azimuth.as_f64().unwrap() - 3.054_599_397_964_49).abs() < 1e-12);
        assert_eq!(
            geo_distance_2points(&[json!(300), json!(1), json!(1), json!(1)]),
            Value::Null
        );
    }

    #[test]
    fn geohash_round_trip() {
        let hash = geo_point_to_geohash(&[json!(-80.195829), json!(25.802215), json!(8)]);
        assert_eq!(hash, json!("dhwfz15h"));
        let center = geo_geohash_to_central_point(&[json!("sunny")]);
        assert_eq!(
            center,
            json!({"type": "Point", "coordinates": [42.47314453125, 23.70849609375]})
        );
        assert_eq!(geo_geohash_to_central_point(&[json!("a")]), Value::Null);
        assert_eq!(
            geo_geohash_neighbors(&[json!("sunny")]),
            json!([
                "sunnt", "sunpj", "sunnx", "sunpn", "sunnv", "sunpp", "sunnz", "sunnw"
            ])
        );
    }

    #[test]
    fn polygon_with_hole() {
        let square = json!({"type": "Polygon", "coordinates": [
            [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
            [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]
        ]});
        let inside = |x: f64, y: f64| geo_point_in_polygon(&[json!(x), json!(y), square.clone()]);
        assert_eq!(inside(1.0, 1.0), json!(true));
        assert_eq!(inside(5.0, 5.0), json!(false));
        assert_eq!(inside(11.0, 5.0), json!(false));
        let degenerate =
            json!({"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 10], [0, 0]]]});
        assert_eq!(
            geo_point_in_polygon(&[json!(1), json!(1), degenerate]),
            Value::Null
        );
    }

    #[test]
    fn h3_reference_cells() {
        let cell = geo_point_to_h3cell(&[
            json!(-74.04450446039874),
            json!(40.689250859314974),
            json!(6),
        ]);
        assert_eq!(cell, json!("862a1072fffffff"));
        assert_eq!(geo_h3cell_level(std::slice::from_ref(&cell)), json!(6));
        assert_eq!(
            geo_h3cell_parent(std::slice::from_ref(&cell)),
            json!("852a1073fffffff")
        );
        assert_eq!(
            geo_h3cell_parent(&[cell.clone(), json!(1)]),
            json!("812a3ffffffffff")
        );
        let children = geo_h3cell_children(&[cell.clone(), json!(9)]);
        assert_eq!(children.as_array().unwrap().len(), 343);
        assert_eq!(geo_h3cell_children(&[cell, json!(12)]), Value::Null);
        assert_eq!(geo_h3cell_level(&[json!("abc")]), Value::Null);
    }
}
