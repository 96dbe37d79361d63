//! The built-in set, seen through the facade the way a user's binary sees it.

#[test]
fn the_registry_holds_the_full_builtin_set() {
    let registered: Vec<_> = vitals::core::registered()
        .iter()
        .map(|d| (d.name, d.order))
        .collect();
    assert_eq!(
        registered,
        [("stages", 10), ("queue", 20), ("agents", 30), ("cost", 40)],
        "a built-in crate's inventory registration was dropped, or a new one appeared"
    );
}

#[test]
fn the_explicit_list_matches_the_registry() {
    let explicit: Vec<_> = vitals::BUILTIN.iter().map(|d| (d.name, d.order)).collect();
    let registered: Vec<_> = vitals::core::registered()
        .iter()
        .map(|d| (d.name, d.order))
        .collect();
    assert_eq!(explicit, registered);
}

#[tokio::test]
async fn the_registry_and_the_explicit_list_build_the_same_sections() {
    let resources = vitals::fake::populated();
    let by_registry = vitals::Assembler::builder()
        .registered(&resources)
        .build()
        .unwrap();
    let by_list = vitals::Assembler::builder()
        .descriptors(vitals::BUILTIN.iter(), &resources)
        .build()
        .unwrap();
    assert_eq!(by_registry.keys(), ["stages", "queue", "agents", "cost"]);
    assert_eq!(by_registry.keys(), by_list.keys());
}

#[test]
fn factories_build_nothing_without_their_sources() {
    let assembler = vitals::Assembler::builder()
        .registered(&vitals::Resources::new())
        .build()
        .unwrap();
    assert!(assembler.keys().is_empty());
}
