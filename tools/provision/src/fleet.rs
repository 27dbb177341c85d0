//! `vnetcrypt-provision fleet INVENTORY OUTDIR`: one configuration disk per gateway of
//! an inventory (`inventory.rs`), every identity generated here and every pin in place,
//! and a summary of what peers need to know of each gateway.
//!
//! Nothing is written unless every gateway's configuration is valid. A disk already in
//! OUTDIR keeps its identity (re-running after adding a gateway changes no existing
//! fingerprint); its configuration goes to the other slot, as `build` does.

use crate::disk::{fingerprint, Target};
use crate::inventory::{self, Gateway, Inventory, Role};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use vnetcrypt_config::store;

/// The summary's file name in OUTDIR.
pub const SUMMARY: &str = "summary.txt";

/// One generated statement and the inventory line it comes from.
struct Line {
    origin: usize,
    text: String,
}

pub fn run(inventory_path: &Path, out: &Path) -> Result<(), String> {
    let text = fs::read_to_string(inventory_path)
        .map_err(|e| format!("{}: {e}", inventory_path.display()))?;
    let report = |errors: Vec<inventory::InventoryError>| {
        for e in &errors {
            eprintln!("{}:{}: {}", inventory_path.display(), e.line, e.message);
        }
        format!(
            "{} error(s) in the inventory; nothing written",
            errors.len()
        )
    };
    let inv = inventory::parse(&text).map_err(report)?;
    inv.validate().map_err(report)?;
    fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;

    let paths: Vec<PathBuf> = inv
        .gateways
        .iter()
        .map(|g| out.join(format!("{}.disk", g.name)))
        .collect();
    let targets = paths
        .iter()
        .map(|p| Target::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let fps = targets
        .iter()
        .map(|t| fingerprint(&t.identity))
        .collect::<Result<Vec<_>, _>>()?;

    // Every configuration first: nothing is written if one is wrong.
    let mut configs = Vec::new();
    let mut failures = 0;
    for g in &inv.gateways {
        let lines = statements(&inv, g, &fps);
        let joined: String = lines.iter().map(|l| format!("{}\n", l.text)).collect();
        let (config, errors) = store::load_text(&joined);
        for e in &errors {
            let origin = lines.get(e.line - 1).map_or(g.line, |l| l.origin);
            eprintln!(
                "{}:{origin}: gateway '{}': {}",
                inventory_path.display(),
                g.name,
                e.message
            );
        }
        failures += errors.len();
        let mut canonical = String::new();
        config
            .write_statements(&mut canonical)
            .map_err(|_| "cannot render a configuration")?;
        configs.push(canonical);
    }
    if failures > 0 {
        return Err(format!(
            "{failures} statement(s) rejected by the configuration grammar; nothing written"
        ));
    }
    for (t, config) in targets.iter().zip(&configs) {
        t.write(config)?;
    }
    let summary = summary(&inv, &fps, &paths);
    fs::write(out.join(SUMMARY), &summary).map_err(|e| format!("{}: {e}", out.display()))?;
    print!("{summary}");
    println!(
        "wrote {} disk(s) and {SUMMARY} to {}",
        paths.len(),
        out.display()
    );
    Ok(())
}

/// The console statements that configure `g`.
fn statements(inv: &Inventory, g: &Gateway, fps: &[String]) -> Vec<Line> {
    let at = |text: String| Line {
        origin: g.line,
        text,
    };
    let mut out = vec![
        at(format!("interface wan address {}/{}", g.wan.0, g.wan.1)),
        at(format!("interface lan address {}/{}", g.lan.0, g.lan.1)),
        at(format!("listen port {}", g.port)),
    ];
    out.extend(inv.fleet.iter().map(|e| Line {
        origin: e.line,
        text: e.text.clone(),
    }));
    for o in inv.peers_of(g) {
        let i = inv
            .gateways
            .iter()
            .position(|x| x.name == o.name)
            .unwrap_or_default();
        let prefixes: Vec<String> = inv
            .prefixes_via(g, o)
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut line = format!(
            "peer add {} endpoint {}:{} fingerprint {} prefix {}",
            o.name,
            o.wan.0,
            o.port,
            fps[i],
            prefixes.join(",")
        );
        // The hub relays what a spoke opens to another spoke.
        if g.role == Role::Hub && o.role == Role::Spoke {
            line.push_str(" transit on");
        }
        out.push(Line {
            origin: o.line,
            text: line,
        });
    }
    out.extend(inv.at.get(&g.name).into_iter().flatten().map(|e| Line {
        origin: e.line,
        text: e.text.clone(),
    }));
    out
}

/// One line per gateway: what an operator checks against each console's `identity`.
fn summary(inv: &Inventory, fps: &[String], disks: &[PathBuf]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# vnetcrypt fleet: {} gateway(s); the disks hold the private keys, this file does not",
        inv.gateways.len()
    );
    let _ = writeln!(
        s,
        "{:<12} {:<6} {:<21} {:<64} {:<16} prefixes",
        "name", "role", "wan endpoint", "fingerprint", "disk"
    );
    for ((g, fp), disk) in inv.gateways.iter().zip(fps).zip(disks) {
        let prefixes: Vec<String> = g.protect.iter().map(ToString::to_string).collect();
        let disk = disk
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{:<12} {:<6} {:<21} {fp:<64} {disk:<16} {}",
            g.name,
            g.role.keyword(),
            format!("{}:{}", g.wan.0, g.port),
            prefixes.join(",")
        );
    }
    s
}
