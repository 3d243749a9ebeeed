//! `deviate ratings merge`: students' ratings links, a file of links and a ratings file pool
//! into the preference set the page trains on; a malformed and an oversized link are refused
//! with their reasons and the rest pooled.

mod cli_support;

use deviate::core::dataset::PreferenceSet;
use deviate::engine::ratings::{self, RatingsLink, Scored};

fn student(seed: u64, texts: &[(&str, u8)]) -> RatingsLink {
    let ratings = texts.iter().map(|&(text, score)| Scored { text: text.into(), score }).collect();
    RatingsLink { prompt: "Write about a lighthouse.".into(), seed, ratings }
}

#[test]
fn ratings_merge_pools_a_class_and_says_what_it_refused() {
    let a = student(1, &[("The lamp went out.", 2), ("The keeper married the fog.", 5)]);
    let b = student(2, &[("The lamp went out.", 3), ("Gulls unionised.", 4)]);
    let c = student(3, &[("Ships passed.", 1), ("The light read the sea aloud.", 5)]);
    let dir = std::env::temp_dir().join(format!("deviate-ratings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("links.txt");
    std::fs::write(&list, format!("http://class.example/#r={}\n\n1.not*base64\n", b.encode())).unwrap();
    let file = dir.join("c.json");
    std::fs::write(&file, serde_json::to_string(&c).unwrap()).unwrap();
    let huge = format!("1.{}", "A".repeat(40_000));
    let args = [a.encode(), list.to_str().unwrap().into(), file.to_str().unwrap().into(), huge];
    let output = cli_support::deviate(&["ratings", "merge", &args[0], &args[1], &args[2], &args[3]], "");
    std::fs::remove_dir_all(&dir).ok();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 5, "{stderr}");
    assert!(lines[0].ends_with("2 added, 0 already pooled (\"Write about a lighthouse.\")"), "{stderr}");
    assert!(lines[1].contains("links.txt:1: 1 added, 1 already pooled"), "{stderr}");
    assert!(lines[2].contains("links.txt:3: refused: the link is not valid base64url"), "{stderr}");
    assert!(lines[3].contains("c.json: 2 added"), "{stderr}");
    assert!(lines[4].contains("refused: the link is too long (40002 characters"), "{stderr}");
    let set = PreferenceSet::from_json(&String::from_utf8_lossy(&output.stdout)).expect("a preference set");
    let want = ratings::pool(vec![Ok(a), Ok(b), Ok(c)]).set().unwrap();
    assert_eq!(set, want);
    assert_eq!(set.train[0].responses.len(), 5, "five different continuations of one prompt");
}

#[test]
fn nothing_to_train_on_is_an_error() {
    let one = student(1, &[("Only one.", 3)]);
    let output = cli_support::deviate(&["ratings", "merge", &one.encode()], "");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to train on"));
}
