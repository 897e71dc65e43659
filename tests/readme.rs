//! The README's references must stay true: its key table is exactly the keymap the app
//! dispatches, and every example config it points to exists.

const README: &str = include_str!("../README.md");

#[test]
fn readme_key_reference_matches_the_keymap() {
    let table = mcpomni::tui::keymap::markdown_table();
    if std::env::var_os("PRINT_KEYMAP").is_some() {
        println!("{table}");
    }
    assert!(
        README.contains(&table),
        "README.md's key reference is out of date; it must contain exactly:\n{table}"
    );
}

#[test]
fn readme_mentions_every_example_config() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for entry in std::fs::read_dir(dir).expect("config dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            README.contains(&format!("config/{name}")),
            "README does not mention config/{name}"
        );
    }
}

#[test]
fn readme_shows_the_screen_capture_from_assets() {
    let capture = include_str!("../assets/screen.txt");
    let first_line = capture.lines().next().expect("capture has lines");
    assert!(README.contains(first_line.trim_end()));
}
