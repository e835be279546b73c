//! State machine tests over [`MemFs`]: crash after every operation, rollback, trial counter.

use super::mem::{MemFs, Node, Repo};
use super::*;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

const A: Commit = [0xaa; 32];
const B: Commit = [0xbb; 32];
const C: Commit = [0xcc; 32];
const Z: Commit = [0x11; 32];

fn dep(commit: Commit, serial: u32) -> Deployment {
    Deployment { commit, serial }
}

fn files(c: &Commit) -> super::mem::Files {
    (0..4u8)
        .map(|i| (vec![b'f', b'0' + i], vec![c[0], i, b'x']))
        .collect()
}

/// Commits in the order they were made: Z, A, B, C (timestamps 100, 200, 300, 400).
fn repo(master: Commit) -> Repo {
    let mut r = Repo::default();
    for (c, ts) in [(Z, 100), (A, 200), (B, 300), (C, 400)] {
        r.trees.insert(c, files(&c));
        r.timestamps.insert(c, ts);
    }
    r.refs.insert("master".to_string(), master);
    r
}

fn boot_opts(trials: u32) -> BootOptions<'static> {
    BootOptions {
        rev: "master",
        update: true,
        rollback: false,
        trials,
        tag: 7,
        allow_downgrade: false,
    }
}

fn quiet() -> impl FnMut(Event<'_>) {
    |_| {}
}

/// A board whose `current` is `a.0` (confirmed), with `previous` = `prev.0` when given.
fn installed(a: Commit, prev: Option<Commit>) -> MemFs {
    let mut fs = MemFs::new(Node::empty_dir(), repo(a));
    for c in prev.iter().chain([&a]) {
        fs.repo.refs.insert("master".to_string(), *c);
        let u = UpdateOptions {
            rev: "master",
            trials: 0,
            booted: None,
            force: false,
            tag: 0,
            allow_downgrade: false,
        };
        update(&mut fs, &u, &mut quiet()).expect("setup update");
    }
    fs.count = 0;
    fs.checkouts.clear();
    fs
}

/// True when `ostree/deploy/<d>` holds exactly the commit's files with their full content.
fn complete(root: &Node, d: &Deployment) -> bool {
    let Some(tree) = root
        .get(Dir::Deploy)
        .and_then(|m| m.get(&d.name()[..]))
        .and_then(Node::entries)
    else {
        return false;
    };
    let want = files(&d.commit);
    tree.len() == want.len()
        && want
            .iter()
            .all(|(n, data)| matches!(tree.get(n), Some(Node::File { data: d, .. }) if d == data))
}

fn link_of(root: &Node, name: &[u8]) -> Option<Deployment> {
    match root.get(Dir::Top)?.get(name)? {
        Node::Link(t) => Deployment::from_link(t),
        _ => None,
    }
}

fn trial_of(root: &Node) -> Trial {
    match root.get(Dir::State).and_then(|m| m.get(&b"trial"[..])) {
        Some(Node::File { data, .. }) => parse_trial(data),
        _ => Trial::None,
    }
}

fn names(root: &Node, dir: Dir) -> Vec<Vec<u8>> {
    root.get(dir)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// No leftover, and no `state/*.timestamp` of a deployment that is gone.
fn no_leftovers(root: &Node) {
    for dir in [Dir::Top, Dir::Deploy, Dir::State] {
        for n in names(root, dir) {
            assert!(
                !is_leftover(&n),
                "leftover {:?} in {:?}",
                core::str::from_utf8(&n),
                dir
            );
        }
    }
    for n in names(root, Dir::State) {
        if let Some(d) = Deployment::from_timestamp_name(&n) {
            assert!(deployments(root).contains(&d), "stale timestamp of {d:?}");
        }
    }
}

/// The timestamp of a test commit (as [`repo`] sets it).
fn ts(c: &Commit) -> u64 {
    match *c {
        Z => 100,
        A => 200,
        B => 300,
        C => 400,
        _ => 0,
    }
}

/// `state/<d>.timestamp`, if present.
fn timestamp_file(root: &Node, d: &Deployment) -> Option<Vec<u8>> {
    match root.get(Dir::State)?.get(&d.timestamp_name(false)[..])? {
        Node::File { data, .. } => Some(data.clone()),
        _ => None,
    }
}

/// `current` is absent or names a complete tree of one of `allowed`, whose commit timestamp
/// is recorded in `state/`.
fn current_is_complete(root: &Node, allowed: &[Commit]) {
    if let Some(Node::Link(t)) = root.get(Dir::Top).and_then(|m| m.get(&b"current"[..])) {
        let d = Deployment::from_link(t).expect("current is well-formed");
        assert!(allowed.contains(&d.commit), "current names {d:?}");
        assert!(complete(root, &d), "current names incomplete {d:?}");
        assert_eq!(
            timestamp_file(root, &d),
            Some(alloc::format!("{}\n", ts(&d.commit)).into_bytes()),
            "timestamp of {d:?}"
        );
    }
}

fn deployments(root: &Node) -> Vec<Deployment> {
    names(root, Dir::Deploy)
        .iter()
        .filter_map(|n| Deployment::parse(n))
        .collect()
}

#[test]
fn deployment_names_round_trip() {
    let d = dep([0x3f; 32], 12);
    let n = d.name();
    assert_eq!(n.len(), 67);
    assert_eq!(Deployment::parse(&n), Some(d));
    assert_eq!(Deployment::from_link(&d.link_target()), Some(d));
    assert_eq!(&d.link_target()[..7], b"deploy/");
    for bad in [&b""[..], b"3f.0", &n[..65], &n[..64], b"x", &[b'A'; 66]] {
        assert_eq!(Deployment::parse(bad), None);
    }
    let mut tmp = n.clone();
    tmp.extend_from_slice(b".tmp-3").unwrap();
    assert_eq!(Deployment::parse(&tmp), None);
    assert!(is_leftover(&tmp));
    let mut lead0 = d.name();
    lead0.truncate(65);
    lead0.extend_from_slice(b"01").unwrap();
    assert_eq!(Deployment::parse(&lead0), None);
    assert_eq!(Deployment::from_link(&n), None, "target without deploy/");
}

#[test]
fn leftover_names_are_recognised() {
    for n in [
        &b"current.tmp"[..],
        b"previous.tmp",
        b"trial.tmp",
        b"x.0.tmp-1",
        b"a.tmp-",
    ] {
        assert!(is_leftover(n));
    }
    for n in [
        &b"current"[..],
        b"repo",
        b"var",
        b"tmp",
        b"tmpfile",
        b"x.tmpl",
    ] {
        assert!(!is_leftover(n));
    }
}

#[test]
fn parses_trial_file() {
    let d = dep(B, 0);
    assert_eq!(
        parse_trial(&trial_bytes(&d, 3)),
        Trial::For {
            deployment: d,
            left: 3
        }
    );
    let mut no_newline = d.name();
    no_newline.extend_from_slice(b" 0").unwrap();
    assert_eq!(
        parse_trial(&no_newline),
        Trial::For {
            deployment: d,
            left: 0
        }
    );
    for bad in [&b""[..], b"\n", b"x 1", &d.name()[..], b"  "] {
        assert_eq!(parse_trial(bad), Trial::Garbage);
    }
}

#[test]
fn factory_board_boots_partition_root() {
    let mut fs = MemFs::new(Node::empty_dir(), repo(A));
    let opts = BootOptions {
        update: false,
        ..boot_opts(3)
    };
    assert_eq!(boot(&mut fs, &opts, &mut quiet()), Boot::PartitionRoot);
    assert_eq!(fs.count, 0, "nothing written");
}

#[test]
fn factory_board_with_repo_gets_first_deployment() {
    let mut fs = MemFs::new(Node::empty_dir(), repo(A));
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(A, 0))
    );
    assert!(complete(&fs.now, &dep(A, 0)));
    assert_eq!(link_of(&fs.now, b"previous"), None);
    assert_eq!(
        trial_of(&fs.now),
        Trial::For {
            deployment: dep(A, 0),
            left: 2
        }
    );
}

#[test]
fn update_flips_current_and_keeps_previous() {
    let mut fs = installed(A, Some(Z));
    fs.repo.refs.insert("master".to_string(), B);
    let mut events = Vec::new();
    let got = boot(&mut fs, &boot_opts(3), &mut |e| {
        events.push(alloc::format!("{e:?}"))
    });
    assert_eq!(got, Boot::Deployment(dep(B, 0)));
    assert_eq!(link_of(&fs.now, b"current"), Some(dep(B, 0)));
    assert_eq!(link_of(&fs.now, b"previous"), Some(dep(A, 0)));
    assert_eq!(
        trial_of(&fs.now),
        Trial::For {
            deployment: dep(B, 0),
            left: 2
        }
    );
    assert_eq!(deployments(&fs.now), [dep(A, 0), dep(B, 0)]);
    no_leftovers(&fs.now);
    assert!(events.iter().any(|e| e.starts_with("Deploying")));
    assert!(events.iter().any(|e| e.starts_with("Deployed")));
    assert!(events.iter().any(|e| e.starts_with("Progress")));
}

#[test]
fn second_boot_without_new_commit_is_a_noop() {
    let mut fs = installed(A, None);
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(A, 0))
    );
    assert_eq!(fs.count, 0, "no write for a confirmed, up-to-date board");
    let u = UpdateOptions {
        rev: "master",
        trials: 3,
        booted: None,
        force: false,
        tag: 1,
        allow_downgrade: false,
    };
    assert_eq!(
        update(&mut fs, &u, &mut quiet()),
        Ok(Updated::UpToDate(dep(A, 0)))
    );
    assert_eq!(fs.count, 0);
}

/// Runs `scenario` with a power cut after operation k for every k, checks every possible disk
/// state, boots each once more without cuts and hands the result to `check`.
fn crash_everywhere(
    setup: &dyn Fn() -> MemFs,
    scenario: &dyn Fn(&mut MemFs),
    allowed: &[Commit],
    recover: BootOptions<'_>,
    check: &dyn Fn(&MemFs, Boot),
) -> usize {
    let mut k = 0;
    loop {
        let mut fs = setup();
        fs.budget = Some(k);
        scenario(&mut fs);
        let states = fs.crash_states();
        for state in &states {
            current_is_complete(state, allowed);
            let mut next = MemFs::new(state.clone(), fs.repo.clone());
            let got = boot(&mut next, &recover, &mut quiet());
            current_is_complete(&next.now, allowed);
            no_leftovers(&next.now);
            check(&next, got);
        }
        if !fs.crashed {
            return k;
        }
        k += 1;
    }
}

#[test]
fn power_cut_at_every_step_of_an_update_boots_old_or_new() {
    let setup = || {
        let mut fs = installed(A, Some(Z));
        fs.repo.refs.insert("master".to_string(), B);
        fs
    };
    let steps = crash_everywhere(
        &setup,
        &|fs| {
            boot(fs, &boot_opts(3), &mut quiet());
        },
        &[A, B],
        boot_opts(3),
        &|fs, got| {
            // The next boot always finishes the update.
            let Boot::Deployment(d) = got else {
                panic!("boots {got:?}")
            };
            assert_eq!(d.commit, B);
            assert!(complete(&fs.now, &d));
            assert_eq!(link_of(&fs.now, b"current"), Some(d));
            assert_eq!(link_of(&fs.now, b"previous"), Some(dep(A, 0)));
            let Trial::For { deployment, left } = trial_of(&fs.now) else {
                panic!("no trial")
            };
            assert_eq!(deployment, d);
            assert!(left == 1 || left == 2, "left {left}");
            assert_eq!(deployments(&fs.now), [dep(A, 0), d]);
        },
    );
    assert!(steps > 10, "only {steps} steps");
}

#[test]
fn power_cut_during_update_without_retry_boots_old_or_new() {
    // The next boot has `ramdisk.update=0`: it boots whatever `current` names, complete.
    let setup = || {
        let mut fs = installed(A, None);
        fs.repo.refs.insert("master".to_string(), B);
        fs
    };
    let recover = BootOptions {
        update: false,
        ..boot_opts(3)
    };
    crash_everywhere(
        &setup,
        &|fs| {
            boot(fs, &boot_opts(3), &mut quiet());
        },
        &[A, B],
        recover,
        &|fs, got| {
            let Boot::Deployment(d) = got else {
                panic!("boots {got:?}")
            };
            assert!(complete(&fs.now, &d));
            assert!(deployments(&fs.now).len() <= 2);
        },
    );
}

#[test]
fn power_cut_at_every_step_of_a_rollback() {
    let setup = || {
        let mut fs = installed(A, None);
        fs.repo.refs.insert("master".to_string(), B);
        let u = UpdateOptions {
            rev: "master",
            trials: 1,
            booted: None,
            force: false,
            tag: 0,
            allow_downgrade: false,
        };
        update(&mut fs, &u, &mut quiet()).unwrap();
        // The one trial boot is used up.
        boot(&mut fs, &boot_opts(1), &mut quiet());
        assert_eq!(
            trial_of(&fs.now),
            Trial::For {
                deployment: dep(B, 0),
                left: 0
            }
        );
        fs.count = 0;
        fs
    };
    crash_everywhere(
        &setup,
        &|fs| {
            boot(fs, &boot_opts(1), &mut quiet());
        },
        &[A, B],
        boot_opts(1),
        &|fs, got| {
            assert_eq!(got, Boot::Deployment(dep(A, 0)));
            assert_eq!(link_of(&fs.now, b"previous"), None);
            assert_eq!(trial_of(&fs.now), Trial::None);
            assert_eq!(deployments(&fs.now), [dep(A, 0)]);
        },
    );
}

#[test]
fn trial_counts_down_then_rolls_back() {
    let mut fs = installed(A, None);
    fs.repo.refs.insert("master".to_string(), B);
    let opts = boot_opts(3);
    for left in [2, 1, 0] {
        assert_eq!(
            boot(&mut fs, &opts, &mut quiet()),
            Boot::Deployment(dep(B, 0))
        );
        assert_eq!(
            trial_of(&fs.now),
            Trial::For {
                deployment: dep(B, 0),
                left
            }
        );
    }
    let mut events = Vec::new();
    assert_eq!(
        boot(&mut fs, &opts, &mut |e| events
            .push(alloc::format!("{e:?}"))),
        Boot::Deployment(dep(A, 0))
    );
    assert!(
        events.iter().any(|e| e.starts_with("RolledBack")),
        "{events:?}"
    );
    assert_eq!(trial_of(&fs.now), Trial::None);
    assert_eq!(deployments(&fs.now), [dep(A, 0)]);
    // The ref still names B: it is not deployed again.
    let mut events = Vec::new();
    assert_eq!(
        boot(&mut fs, &opts, &mut |e| events
            .push(alloc::format!("{e:?}"))),
        Boot::Deployment(dep(A, 0))
    );
    assert!(
        events.iter().any(|e| e.starts_with("NotRedeploying")),
        "{events:?}"
    );
    // A newer commit is.
    fs.repo.refs.insert("master".to_string(), C);
    assert_eq!(
        boot(&mut fs, &opts, &mut quiet()),
        Boot::Deployment(dep(C, 0))
    );
    assert_eq!(link_of(&fs.now, b"previous"), Some(dep(A, 0)));
}

#[test]
fn zero_trials_disables_rollback() {
    let mut fs = installed(A, None);
    fs.repo.refs.insert("master".to_string(), B);
    for _ in 0..6 {
        assert_eq!(
            boot(&mut fs, &boot_opts(0), &mut quiet()),
            Boot::Deployment(dep(B, 0))
        );
        assert_eq!(trial_of(&fs.now), Trial::None);
    }
    assert_eq!(link_of(&fs.now, b"previous"), Some(dep(A, 0)));
}

#[test]
fn mark_good_stops_the_countdown() {
    let mut fs = installed(A, None);
    fs.repo.refs.insert("master".to_string(), B);
    boot(&mut fs, &boot_opts(2), &mut quiet());
    assert_eq!(
        mark_good(&mut fs, Some(&dep(B, 0))),
        Ok(MarkGood::Confirmed(dep(B, 0)))
    );
    assert_eq!(
        mark_good(&mut fs, Some(&dep(B, 0))),
        Ok(MarkGood::NothingToDo)
    );
    for _ in 0..5 {
        assert_eq!(
            boot(&mut fs, &boot_opts(2), &mut quiet()),
            Boot::Deployment(dep(B, 0))
        );
    }
    assert_eq!(trial_of(&fs.now), Trial::None);
}

#[test]
fn mark_good_leaves_a_pending_update_on_trial() {
    let mut fs = installed(A, None);
    fs.repo.refs.insert("master".to_string(), B);
    let u = UpdateOptions {
        rev: "master",
        trials: 3,
        booted: Some(dep(A, 0)),
        force: false,
        tag: 1,
        allow_downgrade: false,
    };
    assert_eq!(
        update(&mut fs, &u, &mut quiet()),
        Ok(Updated::Deployed(dep(B, 0)))
    );
    assert_eq!(
        mark_good(&mut fs, Some(&dep(A, 0))),
        Ok(MarkGood::NotBooted(dep(B, 0)))
    );
    assert_eq!(
        trial_of(&fs.now),
        Trial::For {
            deployment: dep(B, 0),
            left: 3
        }
    );
}

#[test]
fn userspace_updates_keep_the_booted_deployment() {
    let mut fs = installed(A, None);
    let booted = Some(dep(A, 0));
    for c in [B, C] {
        fs.repo.refs.insert("master".to_string(), c);
        let u = UpdateOptions {
            rev: "master",
            trials: 3,
            booted,
            force: false,
            tag: 1,
            allow_downgrade: false,
        };
        assert_eq!(
            update(&mut fs, &u, &mut quiet()),
            Ok(Updated::Deployed(dep(c, 0)))
        );
        assert_eq!(link_of(&fs.now, b"previous"), booted);
    }
    assert_eq!(deployments(&fs.now), [dep(A, 0), dep(C, 0)]);
}

#[test]
fn new_commit_during_trial_keeps_confirmed_previous() {
    let mut fs = installed(A, None);
    fs.repo.refs.insert("master".to_string(), B);
    boot(&mut fs, &boot_opts(3), &mut quiet());
    fs.repo.refs.insert("master".to_string(), C);
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(C, 0))
    );
    assert_eq!(
        link_of(&fs.now, b"previous"),
        Some(dep(A, 0)),
        "B never was confirmed"
    );
    assert_eq!(deployments(&fs.now), [dep(A, 0), dep(C, 0)]);
}

#[test]
fn forced_rollback_is_idempotent() {
    let mut fs = installed(A, Some(Z));
    let opts = BootOptions {
        rollback: true,
        ..boot_opts(3)
    };
    assert_eq!(
        boot(&mut fs, &opts, &mut quiet()),
        Boot::Deployment(dep(Z, 0))
    );
    for _ in 0..3 {
        assert_eq!(
            boot(&mut fs, &opts, &mut quiet()),
            Boot::Deployment(dep(Z, 0))
        );
    }
    // Without the flag, the ref (A) was rolled back from: not redeployed.
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(Z, 0))
    );
    assert_eq!(deployments(&fs.now), [dep(Z, 0)]);
}

#[test]
fn forced_update_redeploys_a_rolled_back_commit() {
    let mut fs = installed(A, Some(Z));
    rollback(&mut fs, &mut quiet()).unwrap();
    let u = UpdateOptions {
        rev: "master",
        trials: 0,
        booted: None,
        force: true,
        tag: 1,
        allow_downgrade: false,
    };
    assert_eq!(
        update(&mut fs, &u, &mut quiet()),
        Ok(Updated::Deployed(dep(A, 0)))
    );
}

#[test]
fn partial_commit_is_refused() {
    let mut fs = installed(A, None);
    fs.repo.refs.insert("master".to_string(), B);
    fs.repo.partial.push(B);
    let mut failed = Vec::new();
    let got = boot(&mut fs, &boot_opts(3), &mut |e| {
        if let Event::Failed(f) = e {
            failed.push(f.clone())
        }
    });
    assert_eq!(got, Boot::Deployment(dep(A, 0)));
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error, Error::State("commit is partial"));
    assert_eq!(deployments(&fs.now), [dep(A, 0)]);
}

#[test]
fn failed_checkout_boots_current_unchanged() {
    let mut fs = installed(A, None);
    fs.repo.refs.insert("master".to_string(), B);
    fs.repo.corrupt_after = Some(2);
    let mut failed = Vec::new();
    let got = boot(&mut fs, &boot_opts(3), &mut |e| {
        if let Event::Failed(f) = e {
            failed.push(f.clone())
        }
    });
    assert_eq!(got, Boot::Deployment(dep(A, 0)));
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].what, "can't check out");
    assert!(matches!(failed[0].error, Error::Checksum { .. }));
    no_leftovers(&fs.now);
    assert_eq!(deployments(&fs.now), [dep(A, 0)]);
    assert_eq!(trial_of(&fs.now), Trial::None);
}

#[test]
fn missing_ref_boots_current_unchanged() {
    let mut fs = installed(A, None);
    fs.repo.refs.clear();
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(A, 0))
    );
    assert_eq!(fs.count, 0);
}

#[test]
fn garbage_trial_file_counts_as_exhausted() {
    let mut fs = installed(A, Some(Z));
    fs.make_dir(Dir::State).unwrap();
    fs.write_file(Dir::State, b"trial", b"junk").unwrap();
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(Z, 0))
    );
}

#[test]
fn stale_trial_of_another_deployment_is_removed() {
    let mut fs = installed(A, None);
    fs.make_dir(Dir::State).unwrap();
    fs.write_file(Dir::State, b"trial", &trial_bytes(&dep(B, 0), 0))
        .unwrap();
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(A, 0))
    );
    assert_eq!(trial_of(&fs.now), Trial::None);
}

#[test]
fn exhausted_trial_without_previous_keeps_booting() {
    let mut fs = MemFs::new(Node::empty_dir(), repo(A));
    for _ in 0..3 {
        assert_eq!(
            boot(&mut fs, &boot_opts(1), &mut quiet()),
            Boot::Deployment(dep(A, 0))
        );
    }
    assert_eq!(trial_of(&fs.now), Trial::None);
}

#[test]
fn broken_current_boots_previous() {
    let mut fs = installed(A, Some(Z));
    fs.remove(Dir::Deploy, &dep(A, 0).name()).unwrap();
    let opts = BootOptions {
        update: false,
        ..boot_opts(3)
    };
    assert_eq!(
        boot(&mut fs, &opts, &mut quiet()),
        Boot::Deployment(dep(Z, 0))
    );
    let mut fs = installed(A, None);
    fs.remove(Dir::Deploy, &dep(A, 0).name()).unwrap();
    assert_eq!(boot(&mut fs, &opts, &mut quiet()), Boot::Nothing);
}

#[test]
fn leftovers_and_unreferenced_deployments_are_removed() {
    let mut fs = installed(A, None);
    fs.make_dir(Dir::Deploy).unwrap();
    fs.make_dir(Dir::State).unwrap();
    let mut tmp = dep(B, 0).name();
    tmp.extend_from_slice(b".tmp-9").unwrap();
    fs.checkout(&B, &tmp, false, &mut |_| {}).unwrap();
    fs.checkout(&C, &dep(C, 4).name(), false, &mut |_| {})
        .unwrap();
    fs.symlink(b"deploy/x", Dir::Top, b"current.tmp").unwrap();
    fs.write_file(Dir::State, b"trial.tmp", b"x").unwrap();
    fs.write_file(Dir::Deploy, b"README", b"kept").unwrap();
    let opts = BootOptions {
        update: false,
        ..boot_opts(3)
    };
    assert_eq!(
        boot(&mut fs, &opts, &mut quiet()),
        Boot::Deployment(dep(A, 0))
    );
    no_leftovers(&fs.now);
    assert_eq!(
        names(&fs.now, Dir::Deploy),
        [b"README".to_vec(), dep(A, 0).name().to_vec()]
    );
}

/// The blog-post protocol without any sync: check out under the final name's tmp, rename,
/// flip. The crash checker must reject it (the delalloc "empty file" bug of reliability.md §6),
/// or it proves nothing about the real protocol.
#[test]
fn crash_checker_catches_a_flip_before_the_data_is_synced() {
    let setup = || {
        let mut fs = installed(A, None);
        fs.repo.refs.insert("master".to_string(), B);
        fs
    };
    let unsynced = |fs: &mut MemFs| {
        let new = dep(B, 0);
        let mut tmp = new.name();
        tmp.extend_from_slice(b".tmp-1").unwrap();
        let _ = fs
            .checkout(&B, &tmp, false, &mut |_| {})
            .and_then(|_| fs.rename(Dir::Deploy, &tmp, &new.name()));
        let _ = fs.symlink(&new.link_target(), Dir::Top, b"current.tmp");
        let _ = fs.rename(Dir::Top, b"current.tmp", b"current");
    };
    let recover = BootOptions {
        update: false,
        ..boot_opts(0)
    };
    let caught = std::panic::catch_unwind(|| {
        crash_everywhere(&setup, &unsynced, &[A, B], recover, &|_, _| {});
    });
    assert!(caught.is_err(), "an unsynced flip passed the crash checker");
}

/// Records the events `f` reports; returns what it returned.
fn recorded<T>(f: impl FnOnce(Report<'_>) -> T) -> (T, Vec<String>) {
    let mut events = Vec::new();
    let r = f(&mut |e| events.push(alloc::format!("{e:?}")));
    (r, events)
}

use alloc::string::String;

/// A board with `current` = `a.0`, trusted keys installed from now on, master at `next`.
fn with_keys(a: Commit, next: Commit) -> MemFs {
    let mut fs = installed(a, None);
    fs.repo.keys = true;
    fs.repo.refs.insert("master".to_string(), next);
    fs
}

#[test]
fn unsigned_commit_is_refused_when_keys_are_installed() {
    let mut fs = with_keys(A, B);
    let (got, events) = recorded(|r| boot(&mut fs, &boot_opts(3), r));
    assert_eq!(got, Boot::Deployment(dep(A, 0)));
    assert!(
        events.contains(&alloc::format!(
            "Refused({B:?}, {:?})",
            crate::sign::UNSIGNED
        )),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e.starts_with("Failed")),
        "{events:?}"
    );
    assert_eq!(fs.count, 0, "nothing written");
    assert!(fs.checkouts.is_empty());
    let u = UpdateOptions {
        rev: "master",
        trials: 3,
        booted: Some(dep(A, 0)),
        force: true,
        tag: 1,
        allow_downgrade: true,
    };
    assert_eq!(
        update(&mut fs, &u, &mut quiet()),
        Ok(Updated::Refused(B, crate::sign::UNSIGNED)),
        "neither --force nor allow-downgrade skips the signature"
    );
}

#[test]
fn badly_signed_commits_are_refused_with_the_reason() {
    for why in [
        crate::sign::NO_VALID_SIGNATURE,
        crate::sign::REVOKED,
        Error::Limit("commitmeta size"),
    ] {
        let mut fs = with_keys(A, B);
        fs.repo.signatures.insert(B, Err(why));
        let (got, events) = recorded(|r| boot(&mut fs, &boot_opts(3), r));
        assert_eq!(got, Boot::Deployment(dep(A, 0)));
        assert!(
            events.contains(&alloc::format!("Refused({B:?}, {why:?})")),
            "{events:?}"
        );
        assert_eq!(deployments(&fs.now), [dep(A, 0)]);
        assert_eq!(fs.count, 0);
    }
}

#[test]
fn signed_commit_is_deployed_trusted_when_keys_are_installed() {
    let mut fs = with_keys(A, B);
    fs.repo.signatures.insert(B, Ok(()));
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(B, 0))
    );
    assert_eq!(fs.checkouts, [(B, true)]);
    assert_eq!(timestamp_file(&fs.now, &dep(B, 0)), Some(b"300\n".to_vec()));
    current_is_complete(&fs.now, &[B]);
}

#[test]
fn unsigned_commits_are_deployed_untrusted_without_keys() {
    let mut fs = installed(A, None);
    fs.repo.refs.insert("master".to_string(), B);
    // Not even looked at without keys.
    fs.repo
        .signatures
        .insert(B, Err(crate::sign::NO_VALID_SIGNATURE));
    fs.repo.privileged = 2;
    let (got, events) = recorded(|r| boot(&mut fs, &boot_opts(3), r));
    assert_eq!(got, Boot::Deployment(dep(B, 0)));
    assert_eq!(fs.checkouts, [(B, false)]);
    assert!(
        events.contains(&alloc::format!("Stripped({B:?}, 2)")),
        "{events:?}"
    );
    // A trusted checkout strips nothing.
    let mut fs = with_keys(B, C);
    fs.repo.signatures.insert(C, Ok(()));
    fs.repo.privileged = 2;
    let (_, events) = recorded(|r| boot(&mut fs, &boot_opts(3), r));
    assert!(
        !events.iter().any(|e| e.starts_with("Stripped")),
        "{events:?}"
    );
}

#[test]
fn older_commit_is_refused_unless_downgrade_is_allowed() {
    let mut fs = installed(B, None);
    fs.repo.refs.insert("master".to_string(), A);
    let (got, events) = recorded(|r| boot(&mut fs, &boot_opts(3), r));
    assert_eq!(got, Boot::Deployment(dep(B, 0)));
    assert!(
        events.contains(&alloc::format!(
            "Refused({A:?}, {:?})",
            crate::sign::DOWNGRADE
        )),
        "{events:?}"
    );
    assert_eq!(fs.count, 0);
    let allow = BootOptions {
        allow_downgrade: true,
        ..boot_opts(3)
    };
    assert_eq!(
        boot(&mut fs, &allow, &mut quiet()),
        Boot::Deployment(dep(A, 0))
    );
    assert_eq!(link_of(&fs.now, b"previous"), Some(dep(B, 0)));
    current_is_complete(&fs.now, &[A]);
}

#[test]
fn same_timestamp_is_not_a_downgrade() {
    let mut fs = installed(B, None);
    fs.repo.timestamps.insert(C, 300);
    fs.repo.refs.insert("master".to_string(), C);
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(C, 0))
    );
}

#[test]
fn downgrade_check_uses_the_recorded_timestamp_of_a_pruned_commit() {
    let mut fs = installed(B, None);
    fs.repo.timestamps.remove(&B);
    fs.repo.refs.insert("master".to_string(), A);
    let (_, events) = recorded(|r| boot(&mut fs, &boot_opts(3), r));
    assert!(
        events.iter().any(|e| e.starts_with("Refused")),
        "{events:?}"
    );
    // A garbage record falls back to the repository, which has lost the commit: nothing to
    // compare with, so the update goes ahead (a board deployed before records existed).
    fs.write_file(Dir::State, &dep(B, 0).timestamp_name(false), b"x\n")
        .unwrap();
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(A, 0))
    );
}

#[test]
fn recorded_timestamp_wins_over_the_repository() {
    let mut fs = installed(A, None);
    // The record says the deployed commit is newer than C.
    fs.write_file(Dir::State, &dep(A, 0).timestamp_name(false), b"500\n")
        .unwrap();
    fs.repo.refs.insert("master".to_string(), C);
    let (_, events) = recorded(|r| boot(&mut fs, &boot_opts(3), r));
    assert!(
        events.iter().any(|e| e.starts_with("Refused")),
        "{events:?}"
    );
}

#[test]
fn unreadable_commit_fails_the_update_only() {
    let mut fs = installed(A, None);
    fs.repo.timestamps.remove(&B);
    fs.repo.refs.insert("master".to_string(), B);
    let u = UpdateOptions {
        rev: "master",
        trials: 3,
        booted: None,
        force: false,
        tag: 1,
        allow_downgrade: false,
    };
    let f = update(&mut fs, &u, &mut quiet()).unwrap_err();
    assert_eq!(f.what, "can't load commit");
    assert_eq!(f.name, b"master");
    assert_eq!(deployments(&fs.now), [dep(A, 0)]);
}

#[test]
fn rollback_to_an_older_deployment_needs_no_downgrade_flag() {
    let mut fs = with_keys(A, B);
    fs.repo.signatures.insert(B, Ok(()));
    boot(&mut fs, &boot_opts(3), &mut quiet());
    assert_eq!(
        rollback(&mut fs, &mut quiet()),
        Ok(Some((dep(B, 0), dep(A, 0))))
    );
    assert_eq!(
        boot(&mut fs, &boot_opts(3), &mut quiet()),
        Boot::Deployment(dep(A, 0))
    );
    no_leftovers(&fs.now);
}

#[test]
fn power_cut_at_every_step_of_a_signed_update_boots_old_or_new() {
    let setup = || {
        let mut fs = with_keys(A, B);
        fs.repo.signatures.insert(B, Ok(()));
        fs
    };
    let steps = crash_everywhere(
        &setup,
        &|fs| {
            boot(fs, &boot_opts(3), &mut quiet());
        },
        &[A, B],
        boot_opts(3),
        &|fs, got| {
            assert_eq!(got, Boot::Deployment(dep(B, 0)));
            assert!(fs.checkouts.iter().all(|c| *c == (B, true)));
            assert_eq!(timestamp_file(&fs.now, &dep(B, 0)), Some(b"300\n".to_vec()));
        },
    );
    assert!(steps > 10, "only {steps} steps");
}

#[test]
fn timestamp_names_round_trip() {
    let d = dep([0x3f; 32], 4_294_967_295);
    let n = d.timestamp_name(false);
    assert!(n.ends_with(b".4294967295.timestamp"));
    assert_eq!(Deployment::from_timestamp_name(&n), Some(d));
    let t = d.timestamp_name(true);
    assert!(is_leftover(&t));
    assert_eq!(Deployment::from_timestamp_name(&t), None);
    assert_eq!(Deployment::from_timestamp_name(&d.name()), None);
}
