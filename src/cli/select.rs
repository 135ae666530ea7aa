//! The one selector flag family of every command that selects customers and resellers (`plan`,
//! `apply`, `tasks`, `history`, `state list`): `--target`, `--exclude` and label selectors
//! `-l key=value`.

use std::collections::{BTreeMap, BTreeSet};

use clap::Args;

use super::CliError;
use crate::model::{DesiredState, ManifestRef, OwnerKind};
use crate::state::LockScope;

/// Which customers and resellers a command is about.
#[derive(Debug, Clone, Default, Args)]
pub struct SelectArgs {
    /// Only these customers or resellers (`acme`, `Customer/acme`, `Reseller/northwind`);
    /// repeatable. A customer brings its reseller along. Never prunes.
    #[arg(long = "target", value_name = "NAME", alias = "customer")]
    pub targets: Vec<String>,
    /// Leave these customers or resellers out; repeatable. Never prunes.
    #[arg(long = "exclude", value_name = "NAME")]
    pub excludes: Vec<String>,
    /// Only customers and resellers whose manifest labels match: `-l tier=gold`; several
    /// `key=value` pairs, comma-separated or with -l repeated, must all match. With --target,
    /// only the named ones that match. Never prunes.
    #[arg(short = 'l', long = "selector", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
}

impl SelectArgs {
    /// Both selections at once (`tasks --target a list --target b`).
    pub fn merged(&self, other: SelectArgs) -> SelectArgs {
        let join = |a: &[String], b: Vec<String>| a.iter().cloned().chain(b).collect();
        SelectArgs {
            targets: join(&self.targets, other.targets),
            excludes: join(&self.excludes, other.excludes),
            labels: join(&self.labels, other.labels),
        }
    }
}

/// `-l` values as key/value pairs, every one of which must match.
pub fn label_selector(values: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for pair in values.iter().flat_map(|v| v.split(',')) {
        let pair = pair.trim();
        let Some((k, v)) = pair.split_once('=').map(|(k, v)| (k.trim(), v.trim())).filter(|(k, _)| !k.is_empty())
        else {
            return Err(CliError::new(format!("`{pair}` is not a label selector"))
                .hint("write key=value, e.g. -l tier=gold or -l tier=gold,region=emea"));
        };
        if let Some(other) = out.insert(k.to_string(), v.to_string()).filter(|o| o != v) {
            return Err(CliError::new(format!("the label selector asks for {k}={other} and {k}={v} at once"))
                .hint("nothing can match both; pass one value per label"));
        }
    }
    Ok(out)
}

/// The customers and resellers of the manifests whose labels hold every pair of `selector`.
fn labelled(desired: &DesiredState, selector: &BTreeMap<String, String>) -> BTreeSet<ManifestRef> {
    let holds = |labels: &BTreeMap<String, String>| selector.iter().all(|(k, v)| labels.get(k) == Some(v));
    let customers = desired.customers.values().filter(|c| holds(&c.labels)).map(|c| ManifestRef::customer(&c.name));
    let resellers = desired.resellers.values().filter(|r| holds(&r.labels)).map(|r| ManifestRef::reseller(&r.name));
    customers.chain(resellers).collect()
}

fn describe(selector: &BTreeMap<String, String>) -> String {
    selector.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// What `plan` and `apply` select, resolved against the manifests: every name must be in them,
/// and a label selector becomes the list of customers and resellers it matches, so a saved plan
/// names exactly what it covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub targets: Vec<ManifestRef>,
    pub excludes: Vec<ManifestRef>,
}

impl Resolved {
    /// As the plan records them (`Customer/acme`).
    pub fn target_names(&self) -> Vec<String> {
        self.targets.iter().map(ToString::to_string).collect()
    }
    pub fn exclude_names(&self) -> Vec<String> {
        self.excludes.iter().map(ToString::to_string).collect()
    }
}

/// Resolve `args` against the manifests (see [`Resolved`]).
pub fn resolve(desired: &DesiredState, args: &SelectArgs) -> Result<Resolved, CliError> {
    let known = |r: &ManifestRef| match r.kind {
        OwnerKind::Customer => desired.customers.contains_key(&r.name),
        OwnerKind::Reseller => desired.resellers.contains_key(&r.name),
    };
    let parse = |text: &str| -> Result<ManifestRef, CliError> {
        let r = match ManifestRef::parse(text) {
            Some(r) => r,
            None if desired.customers.contains_key(text) => ManifestRef::customer(text),
            None if desired.resellers.contains_key(text) => ManifestRef::reseller(text),
            None => {
                return Err(CliError::new(format!("`{text}` names no customer or reseller in the manifests"))
                    .hint("use a metadata.name, e.g. --target acme or --target Reseller/northwind"));
            }
        };
        if known(&r) { Ok(r) } else { Err(CliError::new(format!("{r} is not in the manifests"))) }
    };
    let mut targets: Vec<ManifestRef> = args.targets.iter().map(|t| parse(t)).collect::<Result<_, _>>()?;
    let excludes: Vec<ManifestRef> = args.excludes.iter().map(|t| parse(t)).collect::<Result<_, _>>()?;
    let selector = label_selector(&args.labels)?;
    if !selector.is_empty() {
        let matching = labelled(desired, &selector);
        targets = if targets.is_empty() {
            matching.iter().cloned().collect()
        } else {
            targets.into_iter().filter(|t| matching.contains(t)).collect()
        };
        targets.retain(|t| !excludes.contains(t));
        if targets.is_empty() {
            let what = if args.targets.is_empty() { "no customer or reseller" } else { "none of the --target ones" };
            return Err(CliError::new(format!("{what} in the manifests has the labels {}", describe(&selector)))
                .hint("labels are metadata.labels in each manifest; `tenantry validate` reads them"));
        }
    }
    targets.sort();
    targets.dedup();
    Ok(Resolved { targets, excludes })
}

/// Narrow the desired state to what is selected: the targets (all when none) without the
/// excludes, plus the resellers the selected customers sit under.
pub fn narrow(desired: &mut DesiredState, selected: &Resolved) {
    if selected.targets.is_empty() && selected.excludes.is_empty() {
        return;
    }
    desired.retain(|r| (selected.targets.is_empty() || selected.targets.contains(r)) && !selected.excludes.contains(r));
}

/// What a run of this selection locks: everything when nothing is narrowed (such a run may
/// prune any owner); else the selected customers and resellers, each selected reseller with
/// its customers (their objects sit under its own), and the resellers the selected customers
/// sit under (the narrowed plan keeps their objects, so it may create or update them).
/// `desired` is the whole of the manifests, before [`narrow`].
pub fn lock_scope(desired: &DesiredState, selected: &Resolved) -> LockScope {
    if selected.targets.is_empty() && selected.excludes.is_empty() {
        return LockScope::All;
    }
    let keep = |r: &ManifestRef| {
        (selected.targets.is_empty() || selected.targets.contains(r)) && !selected.excludes.contains(r)
    };
    let customers: Vec<ManifestRef> = desired.customers.keys().map(ManifestRef::customer).filter(|r| keep(r)).collect();
    let resellers = desired.resellers.keys().map(ManifestRef::reseller).filter(|r| keep(r));
    let under: Vec<ManifestRef> = customers.iter().flat_map(|c| desired.needs(c)).collect();
    LockScope::owners(customers.into_iter().chain(resellers), desired).with(under)
}

/// A `--target`/`--exclude` value for commands that read the state store, where an owner may
/// be gone from the manifests: `acme` (a customer or reseller of that name), `Customer/acme` or
/// `Reseller/northwind`.
enum OwnerSelector {
    Name(String),
    Exact(ManifestRef),
}

impl OwnerSelector {
    fn parse(text: &str) -> Result<Self, CliError> {
        if text.contains('/') {
            return ManifestRef::parse(text).map(OwnerSelector::Exact).ok_or_else(|| {
                CliError::new(format!("`{text}` names no customer or reseller"))
                    .hint("write a metadata.name, e.g. --target acme or --target Reseller/northwind")
            });
        }
        if text.is_empty() {
            return Err(CliError::new("--target and --exclude need a name"));
        }
        Ok(OwnerSelector::Name(text.to_string()))
    }

    fn matches(&self, owner: &ManifestRef) -> bool {
        match self {
            OwnerSelector::Name(n) => owner.name.eq_ignore_ascii_case(n),
            OwnerSelector::Exact(r) => r.kind == owner.kind && r.name.eq_ignore_ascii_case(&owner.name),
        }
    }
}

/// The selection of a command that reads the state store (`tasks`, `history`, `state list`):
/// names need not be in the manifests any more; labels are read from the manifests.
pub struct OwnerFilter {
    targets: Vec<OwnerSelector>,
    excludes: Vec<OwnerSelector>,
    /// With a label selector: the owners whose labels match.
    labelled: Option<BTreeSet<ManifestRef>>,
}

impl OwnerFilter {
    /// `manifests` is read only when a label selector is given.
    pub fn new(
        args: &SelectArgs,
        manifests: impl FnOnce() -> Result<DesiredState, CliError>,
    ) -> Result<Self, CliError> {
        let owners = |names: &[String]| -> Result<Vec<OwnerSelector>, CliError> {
            names.iter().map(|n| OwnerSelector::parse(n)).collect()
        };
        let selector = label_selector(&args.labels)?;
        let labelled = if selector.is_empty() { None } else { Some(labelled(&manifests()?, &selector)) };
        Ok(OwnerFilter { targets: owners(&args.targets)?, excludes: owners(&args.excludes)?, labelled })
    }

    pub fn matches(&self, owner: &ManifestRef) -> bool {
        (self.targets.is_empty() || self.targets.iter().any(|t| t.matches(owner)))
            && !self.excludes.iter().any(|t| t.matches(owner))
            && self.labelled.as_ref().is_none_or(|l| l.contains(owner))
    }

    pub fn selects_all(&self) -> bool {
        self.targets.is_empty() && self.excludes.is_empty() && self.labelled.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> DesiredState {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
        crate::manifest::load_dir(&dir).unwrap().desired.expect("valid manifests")
    }

    fn scope(desired: &DesiredState, targets: &[&str], excludes: &[&str]) -> LockScope {
        let args = SelectArgs {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            excludes: excludes.iter().map(|t| t.to_string()).collect(),
            labels: Vec::new(),
        };
        lock_scope(desired, &resolve(desired, &args).unwrap())
    }

    fn owners(names: &[&str]) -> LockScope {
        LockScope::Owners(names.iter().map(|n| ManifestRef::parse(n).unwrap()).collect())
    }

    #[test]
    fn a_run_locks_what_it_selected_a_reseller_with_its_customers_and_everything_when_nothing_is_narrowed() {
        let desired = example();
        assert_eq!(desired.customers["acme"].reseller.as_deref(), Some("northwind"));
        assert_eq!(desired.customers["initech"].reseller.as_deref(), Some("northwind"));
        assert_eq!(desired.customers["globex"].reseller, None);
        assert_eq!(scope(&desired, &[], &[]), LockScope::All);
        assert_eq!(scope(&desired, &["globex"], &[]), owners(&["Customer/globex"]));
        // A customer under a reseller: the reseller too (the plan keeps its objects), not its
        // other customers.
        let acme = scope(&desired, &["acme"], &[]);
        assert_eq!(acme, owners(&["Customer/acme", "Reseller/northwind"]));
        // A reseller covers its customers.
        let northwind = scope(&desired, &["Reseller/northwind"], &[]);
        assert_eq!(northwind, owners(&["Reseller/northwind", "Customer/acme", "Customer/initech"]));
        // What conflicts: runs sharing an owner; unrelated customers do not.
        let globex = scope(&desired, &["globex"], &[]);
        let stark = scope(&desired, &["stark"], &[]);
        assert!(!globex.conflicts(&stark) && !acme.conflicts(&globex));
        assert!(acme.conflicts(&northwind) && northwind.conflicts(&acme));
        assert!(acme.conflicts(&scope(&desired, &["initech"], &[])), "both may write Northwind's objects");
        assert!(LockScope::All.conflicts(&globex) && globex.conflicts(&LockScope::All));
        // Leaving some out narrows too: no prune, so not everything.
        let most = scope(&desired, &[], &["globex"]);
        assert!(matches!(&most, LockScope::Owners(o) if !o.contains(&ManifestRef::customer("globex")) && o.len() > 5));
        assert!(!most.conflicts(&globex));
    }
}
