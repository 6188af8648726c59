//! The Home Assistant blueprints in `config/home-assistant/blueprints/` must fit what the box
//! announces: valid YAML with a `blueprint` block, every `!input` declared and every input
//! used, moods spelled as the contract spells them, and entity filters asking for components
//! the device's discovery really has.

use std::collections::BTreeSet;
use std::path::PathBuf;

use xpressify_protocol::Emotion;
use xpressify_protocol::discovery::{DeviceFeatures, DeviceInfo, discovery_messages};
use yaml_rust2::{Yaml, YamlLoader};

fn blueprints() -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/home-assistant/blueprints");
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, text)
        })
        .collect();
    out.sort();
    out
}

/// Every `!input NAME` in the text.
fn input_references(text: &str) -> BTreeSet<String> {
    text.split("!input ")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// Every `filter: [{integration: mqtt, domain: …}]` domain anywhere under `node`.
fn mqtt_domains(node: &Yaml, out: &mut BTreeSet<String>) {
    match node {
        Yaml::Hash(map) => {
            if node["integration"].as_str() == Some("mqtt")
                && let Some(domain) = node["domain"].as_str()
            {
                out.insert(domain.to_string());
            }
            for v in map.values() {
                mqtt_domains(v, out);
            }
        }
        Yaml::Array(items) => items.iter().for_each(|v| mqtt_domains(v, out)),
        _ => {}
    }
}

#[test]
fn every_blueprint_fits_what_the_box_announces() {
    let files = blueprints();
    assert!(files.len() >= 2, "the two documented blueprints");
    let topics = xpressify_protocol::Topics::new("xpressify", "kitchen").expect("valid");
    let info = DeviceInfo {
        name: "Kitchen camera".into(),
        model: "m".into(),
        sw_version: "0".into(),
        configuration_url: None,
    };
    let components: BTreeSet<String> =
        discovery_messages("homeassistant", &topics, &info, DeviceFeatures::default())
            .iter()
            .filter_map(|m| m.topic.split('/').nth(1).map(str::to_string))
            .collect();
    let emotions: Vec<&str> = Emotion::ALL.iter().map(|e| e.as_str()).collect();
    for (path, text) in files {
        let name = path.display();
        let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let doc = &docs[0];
        let blueprint = &doc["blueprint"];
        assert!(
            blueprint["name"].as_str().is_some_and(|n| !n.is_empty()),
            "{name}"
        );
        assert_eq!(blueprint["domain"].as_str(), Some("automation"), "{name}");
        let inputs: BTreeSet<String> = blueprint["input"]
            .as_hash()
            .unwrap_or_else(|| panic!("{name}: no inputs"))
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        assert_eq!(
            input_references(&text),
            inputs,
            "{name}: inputs declared and used"
        );
        assert!(
            doc["trigger"].as_vec().is_some_and(|t| !t.is_empty()),
            "{name}: a trigger"
        );
        assert!(
            doc["action"].as_vec().is_some_and(|a| !a.is_empty()),
            "{name}: an action"
        );
        for input in blueprint["input"]
            .as_hash()
            .into_iter()
            .flat_map(|h| h.values())
        {
            if let Some(options) = input["selector"]["select"]["options"].as_vec() {
                let options: Vec<&str> = options.iter().filter_map(Yaml::as_str).collect();
                assert_eq!(
                    options, emotions,
                    "{name}: moods as the contract spells them"
                );
                let default = input["default"].as_str().unwrap_or_default();
                assert!(emotions.contains(&default), "{name}: default {default:?}");
            }
        }
        let mut domains = BTreeSet::new();
        mqtt_domains(doc, &mut domains);
        assert!(
            !domains.is_empty(),
            "{name}: asks for one of the box's entities"
        );
        for domain in domains {
            assert!(
                components.contains(&domain),
                "{name}: the box announces no {domain} entity"
            );
        }
    }
}
