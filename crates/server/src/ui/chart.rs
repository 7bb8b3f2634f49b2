//! Charts drawn as inline SVG on the server: time charts (lines), column
//! charts and pie charts, chosen from a query's `render` operator or from
//! the shape of its result.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kql::KqlType;
use serde_json::Value;

use crate::ui::data::cell_text;
use crate::ui::html::{escape, time};

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// Series colors, each with a contrast ratio of at least 3:1 on white.
const PALETTE: [&str; 8] = [
    "#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0f766e", "#a16207", "#475569",
];

/// The maximum number of series in one time chart. The chart notes how
/// many it left out.
const MAX_SERIES: usize = 8;

/// One named series of (ticks, value) points.
pub type Series = (String, Vec<(i64, f64)>);

/// The kinds of chart the UI draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    Time,
    Column,
    Pie,
}

impl ChartKind {
    /// Maps a KQL `render` visualization to the chart drawn for it.
    pub fn from_render(name: &str) -> Option<ChartKind> {
        match name.to_ascii_lowercase().as_str() {
            "timechart" | "linechart" | "areachart" | "stackedareachart" => Some(ChartKind::Time),
            "columnchart" | "barchart" => Some(ChartKind::Column),
            "piechart" => Some(ChartKind::Pie),
            _ => None,
        }
    }
}

/// Returns the visualization of the query's last `render` operator.
pub fn render_kind(query: &str) -> Option<String> {
    let parsed = kql::parse(query).ok()?;
    let body = parsed.body?;
    body.operators
        .iter()
        .rev()
        .find_map(|operator| match &operator.kind {
            kql::ast::OperatorKind::Render(name) => Some(name.name.clone()),
            _ => None,
        })
}

/// The maximum number of columns of a result that gets a chart without `render`.
/// Raw event rows (SecurityEvent has 218 columns) have numeric id columns
/// that are no measure, so they get only the grid.
const MAX_AUTO_CHART_COLUMNS: usize = 8;

/// The `render` visualizations this UI draws, for messages.
const DRAWN_KINDS: &str = "timechart, linechart, areachart, columnchart, barchart and piechart";

/// True when the query's main pipeline summarizes (`summarize` or
/// `count`). Only such results get a chart without `render`: raw rows
/// with a datetime and a number (an EventID) are no series.
pub fn summarizes(query: &str) -> bool {
    let Ok(parsed) = kql::parse(query) else {
        return false;
    };
    parsed.body.is_some_and(|body| {
        body.operators.iter().any(|operator| {
            matches!(
                operator.kind,
                kql::ast::OperatorKind::Summarize(_) | kql::ast::OperatorKind::Count(_)
            )
        })
    })
}

/// Draws the chart for a query result. `render` picks the kind. Without
/// `render`, a summarized result (`summarized`, see [`summarizes`]) of at
/// most [`MAX_AUTO_CHART_COLUMNS`] columns with a datetime column and a
/// numeric column becomes a time chart.
///
/// Returns `None` when the result gets no chart, and `Some(Err(message))`
/// when `render` asked for a chart that this result or this UI cannot
/// draw, so the page can show the reason.
pub fn from_result(
    columns: &[(String, KqlType)],
    rows: &[Vec<Value>],
    render: Option<&str>,
    summarized: bool,
) -> Option<Result<String, String>> {
    let numeric = |ty: KqlType| {
        matches!(
            ty,
            KqlType::Int | KqlType::Long | KqlType::Real | KqlType::Decimal
        )
    };
    let time_column = columns.iter().position(|(_, ty)| *ty == KqlType::Datetime);
    let value_columns: Vec<usize> = (0..columns.len())
        .filter(|&i| numeric(columns[i].1))
        .collect();
    let label_column = columns
        .iter()
        .position(|(_, ty)| *ty == KqlType::String || *ty == KqlType::Bool);
    let kind = match render {
        Some(name) => match ChartKind::from_render(name) {
            Some(kind) => kind,
            None => {
                return Some(Err(format!(
                    "`render {name}` is shown as a table: this UI draws {DRAWN_KINDS}"
                )));
            }
        },
        None if summarized
            && time_column.is_some()
            && !value_columns.is_empty()
            && columns.len() <= MAX_AUTO_CHART_COLUMNS =>
        {
            ChartKind::Time
        }
        None => return None,
    };
    if rows.is_empty() {
        return None;
    }

    match kind {
        ChartKind::Time => {
            let Some(time_column) = time_column else {
                return Some(Err(format!(
                    "`render {}` needs a datetime column for the x-axis; the result has none",
                    render.unwrap_or("timechart")
                )));
            };
            if value_columns.is_empty() {
                return Some(Err(format!(
                    "`render {}` needs a numeric column to plot; the result has none",
                    render.unwrap_or("timechart")
                )));
            }
            let mut series: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
            for row in rows {
                let Some(ticks) = row[time_column]
                    .as_str()
                    .and_then(engine::time::parse_datetime)
                else {
                    continue;
                };
                let split = label_column.map(|index| cell_text(&row[index]));
                for &value_column in &value_columns {
                    let value = row[value_column].as_f64().unwrap_or(0.0);
                    let name = match &split {
                        Some(label) if value_columns.len() == 1 => label.clone(),
                        Some(label) => format!("{label} {}", columns[value_column].0),
                        None => columns[value_column].0.clone(),
                    };
                    series.entry(name).or_default().push((ticks, value));
                }
            }
            let series: Vec<Series> = series.into_iter().collect();
            Some(Ok(time_chart("Result over time", &series)))
        }
        ChartKind::Column | ChartKind::Pie => {
            let Some((category, value_column)) = category_and_value(columns, &value_columns) else {
                return Some(Err(format!(
                    "`render {}` needs a numeric column to plot; the result has none",
                    render.unwrap_or("columnchart")
                )));
            };
            let items: Vec<(String, f64)> = rows
                .iter()
                .map(|row| {
                    let label = category
                        .map(|index| cell_text(&row[index]))
                        .unwrap_or_default();
                    (label, row[value_column].as_f64().unwrap_or(0.0))
                })
                .collect();
            let title = &columns[value_column].0;
            Some(Ok(if kind == ChartKind::Pie {
                pie_chart(title, &items)
            } else {
                column_chart(title, &items)
            }))
        }
    }
}

/// Picks the category and value columns of a column or pie chart, as
/// Kusto does: the first column is the category unless it is the only
/// numeric column, and the value is the first numeric column after the
/// category. Returns `None` without a numeric value column.
fn category_and_value(
    columns: &[(String, KqlType)],
    value_columns: &[usize],
) -> Option<(Option<usize>, usize)> {
    let first_is_numeric = value_columns.first() == Some(&0);
    let category = if !first_is_numeric || value_columns.len() > 1 {
        Some(0)
    } else {
        // The only numeric column comes first (`project count_, Name`),
        // so the next column names the values.
        (columns.len() > 1).then_some(1)
    };
    let value = value_columns
        .iter()
        .copied()
        .find(|&index| Some(index) != category)?;
    Some((category, value))
}

fn open_svg(out: &mut String, title: &str, height: f64) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg"><title>{title}</title>"#,
        title = escape(title)
    );
}

/// Returns a "nice" upper bound of the axis for `max`.
fn axis_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if max <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.2}")
    }
}

fn y_axis(out: &mut String, top_value: f64) {
    let plot_height = HEIGHT - TOP - BOTTOM;
    for step in 0..=4 {
        let value = top_value * f64::from(step) / 4.0;
        let y = TOP + plot_height - plot_height * f64::from(step) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d4d4d8"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            format_number(value)
        );
    }
}

/// Draws a line chart of series over time, with a legend.
pub fn time_chart(title: &str, series: &[Series]) -> String {
    let kept = &series[..series.len().min(MAX_SERIES)];
    let points = kept.iter().flat_map(|(_, points)| points.iter());
    let (mut start, mut end, mut max) = (i64::MAX, i64::MIN, 0f64);
    for (ticks, value) in points {
        start = start.min(*ticks);
        end = end.max(*ticks);
        max = max.max(*value);
    }
    let mut out = String::new();
    open_svg(&mut out, title, HEIGHT);
    if start > end {
        out.push_str("</svg>");
        return out;
    }
    let span = (end - start).max(1) as f64;
    let top_value = axis_max(max);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    y_axis(&mut out, top_value);
    for step in 0..=4 {
        let ticks = start + ((end - start) as f64 * f64::from(step) / 4.0) as i64;
        let x = LEFT + plot_width * f64::from(step) / 4.0;
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
            HEIGHT - BOTTOM + 16.0,
            escape(time(ticks).get(5..16).unwrap_or_default())
        );
    }
    for (index, (name, points)) in kept.iter().enumerate() {
        let mut sorted = points.clone();
        sorted.sort_by_key(|(ticks, _)| *ticks);
        let path: Vec<String> = sorted
            .iter()
            .map(|(ticks, value)| {
                let x = LEFT + plot_width * (*ticks - start) as f64 / span;
                let y = TOP + plot_height - plot_height * value / top_value;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let color = PALETTE[index % PALETTE.len()];
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            path.join(" "),
            escape(name)
        );
        if sorted.len() == 1 {
            let (x, y) = path[0].split_once(',').unwrap_or(("0", "0"));
            let _ = write!(out, r#"<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>"#);
        }
    }
    out.push_str("</svg>");
    out.push_str(&legend(kept.iter().map(|(name, _)| name.as_str())));
    if series.len() > MAX_SERIES {
        let _ = write!(
            out,
            r#"<p class="hint">The chart shows the first {MAX_SERIES} of {} series.</p>"#,
            series.len()
        );
    }
    out
}

fn legend<N: AsRef<str>>(names: impl Iterator<Item = N>) -> String {
    let mut out = String::from(r#"<ul class="legend">"#);
    for (index, name) in names.enumerate() {
        let _ = write!(
            out,
            r#"<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="{}"/></svg> {}</li>"#,
            PALETTE[index % PALETTE.len()],
            escape(if name.as_ref().is_empty() {
                "(empty)"
            } else {
                name.as_ref()
            })
        );
    }
    out.push_str("</ul>");
    out
}

/// Draws a column chart of labelled values.
pub fn column_chart(title: &str, items: &[(String, f64)]) -> String {
    let items = &items[..items.len().min(50)];
    let max = items.iter().map(|(_, value)| *value).fold(0f64, f64::max);
    let top_value = axis_max(max);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let mut out = String::new();
    open_svg(&mut out, title, HEIGHT);
    y_axis(&mut out, top_value);
    let slot = plot_width / items.len().max(1) as f64;
    for (index, (label, value)) in items.iter().enumerate() {
        let bar_height = plot_height * value / top_value;
        let x = LEFT + slot * index as f64 + slot * 0.15;
        let y = TOP + plot_height - bar_height;
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bar_height:.1}" fill="{}"><title>{}: {}</title></rect>"#,
            slot * 0.7,
            PALETTE[0],
            escape(label),
            format_number(*value)
        );
        let short: String = label.chars().take(14).collect();
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
            x + slot * 0.35,
            HEIGHT - BOTTOM + 16.0,
            escape(&short)
        );
    }
    out.push_str("</svg>");
    out
}

/// The maximum number of slices of a pie chart. The smaller values
/// become one "Other" slice.
const MAX_SLICES: usize = 8;

/// Draws a pie chart of labelled values, with a legend. The largest
/// values get their own slices and the rest one "Other" slice. Zero and
/// negative values cannot be drawn as slices, so a note counts them.
pub fn pie_chart(title: &str, items: &[(String, f64)]) -> String {
    let mut positive: Vec<(String, f64)> = items
        .iter()
        .filter(|(_, value)| *value > 0.0)
        .cloned()
        .collect();
    let left_out = items.len() - positive.len();
    positive.sort_by(|a, b| b.1.total_cmp(&a.1));
    if positive.len() > MAX_SLICES {
        let rest = positive.split_off(MAX_SLICES - 1);
        let other: f64 = rest.iter().map(|(_, value)| value).sum();
        positive.push((format!("Other ({} values)", rest.len()), other));
    }
    let items = positive;
    let total: f64 = items.iter().map(|(_, value)| value).sum();
    let mut out = String::new();
    open_svg(&mut out, title, HEIGHT);
    let (cx, cy, radius) = (WIDTH / 2.0, HEIGHT / 2.0, HEIGHT / 2.0 - 10.0);
    let mut angle = -std::f64::consts::FRAC_PI_2;
    for (index, (label, value)) in items.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let share = value / total.max(f64::MIN_POSITIVE);
        let tooltip = format!("{}: {}", escape(label), format_number(*value));
        if share >= 0.9999 {
            let _ = write!(
                out,
                r#"<circle cx="{cx}" cy="{cy}" r="{radius}" fill="{color}"><title>{tooltip}</title></circle>"#
            );
            break;
        }
        let next = angle + share * std::f64::consts::TAU;
        let (x1, y1) = (cx + radius * angle.cos(), cy + radius * angle.sin());
        let (x2, y2) = (cx + radius * next.cos(), cy + radius * next.sin());
        let large = if share > 0.5 { 1 } else { 0 };
        let _ = write!(
            out,
            r#"<path d="M{cx},{cy} L{x1:.1},{y1:.1} A{radius},{radius} 0 {large} 1 {x2:.1},{y2:.1} Z" fill="{color}"><title>{tooltip}</title></path>"#
        );
        angle = next;
    }
    out.push_str("</svg>");
    out.push_str(&legend(items.iter().map(|(label, value)| {
        format!(
            "{}: {}",
            if label.is_empty() { "(empty)" } else { label },
            format_number(*value)
        )
    })));
    if left_out > 0 {
        let _ = write!(
            out,
            r#"<p class="hint">{} with zero or negative values cannot be drawn as slices.</p>"#,
            crate::ui::html::counted(left_out as u64, "row")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_max_rounds_up() {
        assert_eq!(axis_max(0.0), 1.0);
        assert_eq!(axis_max(7.0), 10.0);
        assert_eq!(axis_max(120.0), 200.0);
        assert_eq!(axis_max(240.0), 250.0);
    }

    #[test]
    fn render_kind_reads_last_render() {
        assert_eq!(
            render_kind("T | summarize count() by bin(TimeGenerated, 1h) | render columnchart")
                .as_deref(),
            Some("columnchart")
        );
        assert_eq!(render_kind("T | take 1"), None);
    }

    #[test]
    fn time_result_becomes_time_chart() {
        let columns = vec![
            ("TimeGenerated".to_string(), KqlType::Datetime),
            ("count_".to_string(), KqlType::Long),
        ];
        let rows = vec![
            vec![Value::from("2026-01-01T00:00:00Z"), Value::from(3)],
            vec![Value::from("2026-01-01T01:00:00Z"), Value::from(5)],
        ];
        let svg = from_result(&columns, &rows, None, true)
            .expect("a chart")
            .unwrap();
        assert!(svg.contains("<polyline"), "{svg}");
        let pie = from_result(&columns, &rows, Some("piechart"), true)
            .expect("a chart")
            .unwrap();
        assert!(pie.contains("<path"), "{pie}");
        let no_time = vec![("Name".to_string(), KqlType::String)];
        assert!(from_result(&no_time, &[vec![Value::from("a")]], None, true).is_none());
        // Raw rows with the same shape get no automatic chart.
        assert!(from_result(&columns, &rows, None, false).is_none());
        assert!(summarizes(
            "T | summarize count() by bin(TimeGenerated, 1h)"
        ));
        assert!(!summarizes("T | project EventID, TimeGenerated | take 20"));
    }

    #[test]
    fn numeric_category_is_the_label() {
        // `summarize count() by EventID`: EventID names the slices and
        // count_ sizes them.
        let columns = vec![
            ("EventID".to_string(), KqlType::Int),
            ("count_".to_string(), KqlType::Long),
        ];
        let rows = vec![
            vec![Value::from(4624), Value::from(30)],
            vec![Value::from(4625), Value::from(10)],
        ];
        let pie = from_result(&columns, &rows, Some("piechart"), true)
            .unwrap()
            .unwrap();
        assert!(pie.contains("4624: 30"), "{pie}");
        assert!(pie.contains("4625: 10"), "{pie}");
        let bars = from_result(&columns, &rows, Some("columnchart"), true)
            .unwrap()
            .unwrap();
        assert!(bars.contains("<title>4624: 30</title>"), "{bars}");
    }

    #[test]
    fn pie_groups_small_values_as_other() {
        let items: Vec<(String, f64)> = (1..=10).map(|n| (format!("ip{n}"), n as f64)).collect();
        let pie = pie_chart("Failures", &items);
        assert!(pie.contains("ip10: 10"), "{pie}");
        assert!(pie.contains("Other (3 values): 6"), "{pie}");
        assert!(!pie.contains("ip1: 1"), "{pie}");
        let with_zero = pie_chart("x", &[("a".to_string(), 2.0), ("b".to_string(), 0.0)]);
        assert!(
            with_zero.contains("1 row with zero or negative values"),
            "{with_zero}"
        );
    }

    #[test]
    fn unsupported_render_is_explained() {
        let columns = vec![("Name".to_string(), KqlType::String)];
        let rows = vec![vec![Value::from("a")]];
        let scatter = from_result(&columns, &rows, Some("scatterchart"), true).unwrap();
        assert!(scatter.unwrap_err().contains("scatterchart"));
        let no_time = from_result(&columns, &rows, Some("timechart"), true).unwrap();
        assert!(no_time.unwrap_err().contains("datetime column"));
    }

    #[test]
    fn wide_results_get_no_automatic_chart() {
        let mut columns = vec![("TimeGenerated".to_string(), KqlType::Datetime)];
        columns.extend((0..10).map(|n| (format!("Id{n}"), KqlType::Int)));
        let row: Vec<Value> = std::iter::once(Value::from("2026-01-01T00:00:00Z"))
            .chain((0..10).map(Value::from))
            .collect();
        assert!(from_result(&columns, &[row], None, true).is_none());
    }
}
