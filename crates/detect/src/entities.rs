//! Alert entities: values of result columns named by a rule's
//! `entityMappings`, in the JSON shape of Sentinel's `SecurityAlert.Entities`.
//!
//! Each entity is an object with a `$id`, its identifiers, and a lower-case
//! `Type` (`account`, `host`, `ip`, ...). As in Sentinel, an Account's
//! `FullName` (`DOMAIN\user` or `user@upn.suffix`) is split into `Name`
//! with `NTDomain` or `UPNSuffix`, and a Host's `FullName`
//! (`host.dns.domain`) into `HostName` and `DnsDomain`. An entity whose
//! identifiers are all empty is left out.

use serde_json::{Map, Value};

use crate::rule::EntityMapping;

/// Sentinel entity types as rules name them, with the `Type` value of the
/// Entities JSON.
const ENTITY_TYPES: &[(&str, &str)] = &[
    ("Account", "account"),
    ("Host", "host"),
    ("IP", "ip"),
    ("URL", "url"),
    ("FileHash", "filehash"),
    ("File", "file"),
    ("Process", "process"),
    ("CloudApplication", "cloud-application"),
    ("DNS", "dns"),
    ("AzureResource", "azure-resource"),
    ("RegistryKey", "registry-key"),
    ("RegistryValue", "registry-value"),
    ("SecurityGroup", "security-group"),
    ("Malware", "malware"),
    ("MailCluster", "mail-cluster"),
    ("MailMessage", "mail-message"),
    ("Mailbox", "mailbox"),
    ("SubmissionMail", "submission-mail"),
    ("IoTDevice", "iotdevice"),
    ("Nic", "network-connection"),
];

/// Returns the Entities JSON `Type` of an entity type named in a rule (in
/// any letter case), or `None` for a type Sentinel does not define.
pub fn entity_json_type(entity_type: &str) -> Option<&'static str> {
    ENTITY_TYPES
        .iter()
        .find(|(name, json)| {
            name.eq_ignore_ascii_case(entity_type.trim())
                || json.eq_ignore_ascii_case(entity_type.trim())
        })
        .map(|(_, json)| *json)
}

/// One entity of an alert: its JSON type and identifiers in mapping order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub json_type: &'static str,
    pub identifiers: Vec<(String, String)>,
}

impl Entity {
    /// Returns the value of an identifier, if the entity has it.
    pub fn identifier(&self, name: &str) -> Option<&str> {
        self.identifiers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Builds the entities of one result row. `cell` returns the text of a
/// column of the row, or `None` when the result has no such column.
pub fn row_entities(
    mappings: &[EntityMapping],
    cell: &dyn Fn(&str) -> Option<String>,
) -> Vec<Entity> {
    let mut entities = Vec::new();
    for mapping in mappings {
        let Some(json_type) = entity_json_type(&mapping.entity_type) else {
            continue;
        };
        let mut identifiers: Vec<(String, String)> = Vec::new();
        for (identifier, column) in &mapping.field_mappings {
            let Some(value) = cell(column).filter(|value| !value.is_empty()) else {
                continue;
            };
            for (name, part) in split_identifier(json_type, identifier, &value) {
                if !identifiers.iter().any(|(existing, _)| *existing == name) {
                    identifiers.push((name, part));
                }
            }
        }
        if !identifiers.is_empty() {
            entities.push(Entity {
                json_type,
                identifiers,
            });
        }
    }
    entities
}

/// Splits a `FullName` into the identifiers Sentinel stores; other
/// identifiers pass unchanged.
fn split_identifier(json_type: &str, identifier: &str, value: &str) -> Vec<(String, String)> {
    let pair = |name: &str, part: &str| (name.to_string(), part.to_string());
    if !identifier.eq_ignore_ascii_case("FullName") {
        return vec![pair(identifier, value)];
    }
    match json_type {
        "account" => {
            if let Some((domain, name)) = value.split_once('\\') {
                vec![pair("Name", name), pair("NTDomain", domain)]
            } else if let Some((name, suffix)) = value.split_once('@') {
                vec![pair("Name", name), pair("UPNSuffix", suffix)]
            } else {
                vec![pair("Name", value)]
            }
        }
        "host" => match value.split_once('.') {
            Some((host, domain)) => vec![pair("HostName", host), pair("DnsDomain", domain)],
            None => vec![pair("HostName", value)],
        },
        _ => vec![pair(identifier, value)],
    }
}

/// Adds `entities` to `all`, leaving out those already there.
pub fn merge_entities(all: &mut Vec<Entity>, entities: Vec<Entity>) {
    for entity in entities {
        if !all.contains(&entity) {
            all.push(entity);
        }
    }
}

/// Renders entities as Sentinel's Entities JSON array, numbering `$id`
/// from 1.
pub fn entities_json(entities: &[Entity]) -> String {
    let array: Vec<Value> = entities
        .iter()
        .enumerate()
        .map(|(index, entity)| {
            let mut object = Map::new();
            object.insert("$id".into(), Value::String((index + 1).to_string()));
            for (name, value) in &entity.identifiers {
                object.insert(name.clone(), Value::String(value.clone()));
            }
            object.insert("Type".into(), Value::String(entity.json_type.to_string()));
            Value::Object(object)
        })
        .collect();
    Value::Array(array).to_string()
}

/// Parses an Entities JSON array back into entities, skipping `$id` and
/// objects without a `Type`.
pub fn parse_entities_json(text: &str) -> Vec<Entity> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let object = item.as_object()?;
            let json_type = entity_json_type(object.get("Type")?.as_str()?)?;
            let identifiers = object
                .iter()
                .filter(|(key, _)| *key != "$id" && *key != "Type")
                .map(|(key, value)| {
                    let text = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_string);
                    (key.clone(), text)
                })
                .collect();
            Some(Entity {
                json_type,
                identifiers,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(entity_type: &str, fields: &[(&str, &str)]) -> EntityMapping {
        EntityMapping {
            entity_type: entity_type.into(),
            field_mappings: fields
                .iter()
                .map(|(id, column)| (id.to_string(), column.to_string()))
                .collect(),
        }
    }

    #[test]
    fn full_names_split() {
        let mappings = [
            mapping("Account", &[("FullName", "Account")]),
            mapping("Host", &[("FullName", "Computer")]),
            mapping("IP", &[("Address", "IpAddress")]),
        ];
        let cell = |column: &str| match column {
            "Account" => Some("EXAMPLE\\admin01".to_string()),
            "Computer" => Some("PC01.example.corp".to_string()),
            "IpAddress" => Some(String::new()),
            _ => None,
        };
        let entities = row_entities(&mappings, &cell);
        assert_eq!(
            entities_json(&entities),
            r#"[{"$id":"1","Name":"admin01","NTDomain":"EXAMPLE","Type":"account"},{"$id":"2","HostName":"PC01","DnsDomain":"example.corp","Type":"host"}]"#
        );
        assert_eq!(parse_entities_json(&entities_json(&entities)), entities);
    }

    #[test]
    fn upn_and_type_names() {
        let mappings = [mapping("account", &[("FullName", "Upn")])];
        let cell = |_: &str| Some("alice@contoso.com".to_string());
        let entities = row_entities(&mappings, &cell);
        assert_eq!(entities[0].identifier("Name"), Some("alice"));
        assert_eq!(entities[0].identifier("UPNSuffix"), Some("contoso.com"));
        assert_eq!(entity_json_type("RegistryKey"), Some("registry-key"));
        assert_eq!(entity_json_type("Spaceship"), None);
    }
}
