//! The Debian package: `cargo deb --no-build` packs the znak binary this test run already built
//! (no extra release build in CI), then `dpkg-deb` shows what a user would install: the binary,
//! the systemd unit with its hardening, the config as a conffile, the sysusers file and the
//! maintainer scripts that create the `znak` user and enable the service. Needs cargo-deb and
//! dpkg-deb (scripts/test-deps installs cargo-deb).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ZNAK: &str = env!("CARGO_BIN_EXE_znak");

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the package from the binary of this test run.
fn build_deb(out: &Path) -> PathBuf {
    let has_cargo_deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        has_cargo_deb,
        "cargo-deb is not installed: run scripts/test-deps"
    );
    // CARGO_BIN_EXE_znak is <target>/debug/znak: point cargo-deb at that target dir.
    let target = Path::new(ZNAK)
        .parent()
        .and_then(Path::parent)
        .expect("the binary lies in <target>/debug");
    let deb = out.join("znak.deb");
    // `--profile dev` with `--no-build` packs target/debug/znak; cargo-deb warns that dev
    // builds are not for releases (scripts/package builds the release one).
    run(Command::new("cargo")
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", target)
        .args([
            "deb",
            "-p",
            "znak",
            "--no-build",
            "--profile",
            "dev",
            "--fast",
            "--offline",
        ])
        .arg("--output")
        .arg(&deb));
    deb
}

#[test]
fn the_deb_holds_the_service_config_and_maintainer_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_deb(dir.path());

    let info = text(&run(Command::new("dpkg-deb").arg("--info").arg(&deb)));
    for field in [
        "Package: znak",
        "Architecture: amd64",
        "Section: net",
        "passwd",
        "systemd | systemd-standalone-sysusers | systemd-sysusers",
    ] {
        assert!(info.contains(field), "{field} missing from:\n{info}");
    }
    for script in ["conffiles", "postinst", "prerm", "postrm"] {
        assert!(info.contains(script), "{script} missing from:\n{info}");
    }

    let contents = text(&run(Command::new("dpkg-deb").arg("--contents").arg(&deb)));
    let files: Vec<&str> = contents
        .lines()
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| line.split_whitespace().last())
        .collect();
    let mut expected = vec![
        "./etc/znak/lm.toml",
        "./usr/bin/znak",
        "./usr/lib/systemd/system/znak-lm.service",
        "./usr/lib/sysusers.d/znak.conf",
        "./usr/share/doc/znak/README.md",
        "./usr/share/doc/znak/copyright",
    ];
    let mut found = files.clone();
    found.sort_unstable();
    expected.sort_unstable();
    assert_eq!(found, expected, "{contents}");
    assert!(
        contents.contains("-rwxr-xr-x 0/0") && contents.contains("./usr/bin/znak"),
        "{contents}"
    );

    let control = dir.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    let read = |name: &str| std::fs::read_to_string(control.join(name)).unwrap();
    assert_eq!(read("conffiles").trim(), "/etc/znak/lm.toml");
    let postinst = read("postinst");
    for needed in [
        "useradd --system --user-group",
        "systemd-sysusers znak.conf",
        "install -d -o znak -g znak -m 0750 /var/lib/znak /var/lib/znak/lm /var/log/znak",
        "deb-systemd-helper enable znak-lm.service",
        "deb-systemd-invoke $_dh_action znak-lm.service",
    ] {
        assert!(
            postinst.contains(needed),
            "postinst lacks {needed:?}:\n{postinst}"
        );
    }
    assert!(!postinst.contains("#DEBHELPER#"), "{postinst}");
    assert!(read("prerm").contains("znak-lm.service"));
    let postrm = read("postrm");
    assert!(
        postrm.contains("purge") && postrm.contains("rm -rf /var/log/znak"),
        "{postrm}"
    );
    assert!(
        !postrm.contains("rm -rf /var/lib"),
        "purge must keep the sold DB:\n{postrm}"
    );
    for script in ["postinst", "prerm", "postrm"] {
        run(Command::new("sh").arg("-n").arg(control.join(script)));
    }

    let root = dir.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/znak-lm.service")).unwrap();
    for line in [
        "ExecStart=/usr/bin/znak lm serve --config /etc/znak/lm.toml",
        "User=znak",
        "Restart=on-failure",
        "StateDirectory=znak",
        "LogsDirectory=znak",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "unit lacks {line:?}:\n{unit}"
        );
    }
    let shipped = std::fs::read(workspace().join("packaging/lm.toml")).unwrap();
    assert_eq!(
        std::fs::read(root.join("etc/znak/lm.toml")).unwrap(),
        shipped
    );
    let sysusers = std::fs::read_to_string(root.join("usr/lib/sysusers.d/znak.conf")).unwrap();
    assert!(sysusers.contains("u znak - "), "{sysusers}");

    // The packed binary runs.
    let version = text(&run(
        Command::new(root.join("usr/bin/znak")).arg("--version")
    ));
    assert!(version.starts_with("znak "), "{version}");
}
