//! Semantic validation: structurally valid documents -> the domain model, collecting every
//! problem (missing fields after profile merging, formats, references, uniqueness across all
//! manifests, vendor rules). Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::diag::{Diagnostic, SourceMap, similar_name};
use super::load::{Declared, Doc, by_name, merge};
use super::node::{Loc, Node, Value};
use super::raw;
use super::schema::Kind;
use crate::model::{self, *};

pub(crate) fn build(
    docs: Vec<Doc>,
    declared: &Declared,
    sources: &SourceMap,
    out: &mut Vec<Diagnostic>,
) -> DesiredState {
    let mut desired = DesiredState::default();

    let configs: Vec<&Doc> = docs.iter().filter(|d| d.kind == Kind::Config).collect();
    if let Some(doc) = configs.first() {
        let mut c = Checker::new(&doc.node, sources, out);
        if let Some(raw) = c.decode::<raw::ConfigDocument>(&doc.node) {
            desired.config = c.config(&raw);
        }
    }

    let profiles = by_name(&docs, Kind::Profile, sources, out);
    for (name, node) in &profiles {
        let mut c = Checker::new(node, sources, out);
        c.dns_label(name, "metadata.name");
        desired.profiles.insert(name.clone());
    }

    let reseller_nodes = by_name(&docs, Kind::Reseller, sources, out);
    let customer_nodes = by_name(&docs, Kind::Customer, sources, out);

    for (name, node) in &reseller_nodes {
        let mut c = Checker::new(node, sources, out);
        if let Some(raw) = c.decode::<raw::ResellerDocument>(node)
            && let Some(r) = c.reseller(name, &raw)
        {
            desired.resellers.insert(name.clone(), r);
        }
    }

    // Customers validate independently of each other: do them on every core.
    let list: Vec<(&String, &&Node)> = customer_nodes.iter().collect();
    let results = super::par_map(&list, |(name, node)| {
        let mut found = Vec::new();
        let customer = customer_doc(name, node, &reseller_nodes, &profiles, declared, sources, &mut found);
        (customer, found)
    });
    for (customer, found) in results {
        out.extend(found);
        if let Some(c) = customer {
            desired.customers.insert(c.name.clone(), c);
        }
    }

    cross_checks(&desired, declared, &reseller_nodes, &customer_nodes, sources, out);
    desired
}

fn customer_doc(
    name: &str,
    node: &Node,
    reseller_nodes: &BTreeMap<String, &Node>,
    profiles: &BTreeMap<String, &Node>,
    declared: &Declared,
    sources: &SourceMap,
    out: &mut Vec<Diagnostic>,
) -> Option<Customer> {
    if let Some(other) = reseller_nodes.get(name) {
        out.push(
            Diagnostic::error(
                "duplicate-name",
                node.locate("metadata.name").loc,
                "metadata.name",
                format!("`{name}` names both a Customer and a Reseller"),
            )
            .with_hint(format!(
                "the Reseller is at {}; customers and resellers share one namespace because vendors carry `tenantry:<name>` as the owner marker",
                sources.display(other.locate("metadata.name").loc)
            )),
        );
        return None;
    }
    let merged = merge_profiles(node, profiles, declared, out);
    let mut c = Checker::new(node, sources, out);
    c.services = merged.as_ref();
    let mut raw = c.decode::<raw::CustomerDocument>(node)?;
    if let Some(services) = &merged {
        raw.spec.services = c.decode(services)?;
    }
    c.customer(name, &raw)
}

/// The customer's `spec.services` with its profiles' merged under it, or `None` when it lists no
/// profiles (its own block is then used as written).
fn merge_profiles<'s>(
    node: &Node<'s>,
    profiles: &BTreeMap<String, &Node<'s>>,
    declared: &Declared,
    out: &mut Vec<Diagnostic>,
) -> Option<Node<'s>> {
    let Value::Seq(items) = &node.get("spec")?.get("profiles")?.value else {
        return None;
    };
    let root = Kind::Customer.schema();
    let schema = super::load::resolve(root, root)
        .pointer("/properties/spec")
        .map(|s| super::load::resolve(s, root))
        .and_then(|s| s.pointer("/properties/services"));
    let mut services = Node { loc: node.locate("spec").loc, value: Value::Map(Vec::new()) };
    for (i, item) in items.iter().enumerate() {
        let Some(name) = item.as_str() else { continue };
        match profiles.get(name) {
            Some(profile) => {
                if let Some(s) = profile.get("spec").and_then(|s| s.get("services")) {
                    services = merge(&services, s, schema, root);
                }
            }
            None if declared.contains(&(Kind::Profile, name.to_string())) => {} // it has errors of its own
            None => {
                let hint = match similar_name(name, profiles.keys().map(String::as_str)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if profiles.is_empty() => "no Profile is declared in the manifest directory".to_string(),
                    None => format!("declared profiles: {}", profiles.keys().cloned().collect::<Vec<_>>().join(", ")),
                };
                out.push(
                    Diagnostic::error(
                        "unknown-profile",
                        item.loc,
                        format!("spec.profiles[{i}]"),
                        format!("profile `{name}` does not exist"),
                    )
                    .with_hint(hint),
                );
            }
        }
    }
    if let Some(own) = node.get("spec").and_then(|s| s.get("services")) {
        services = merge(&services, own, schema, root);
    }
    Some(services)
}

struct Checker<'a> {
    /// The document as written.
    node: &'a Node<'a>,
    /// For customers with profiles: `spec.services` after merging, read instead of the
    /// document's own block.
    services: Option<&'a Node<'a>>,
    sources: &'a SourceMap,
    out: &'a mut Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn new(node: &'a Node, sources: &'a SourceMap, out: &'a mut Vec<Diagnostic>) -> Self {
        Checker { node, services: None, sources, out }
    }

    /// The node a path lives in (the merged services, or the document) and the path inside it.
    fn at<'p>(&self, path: &'p str) -> (&'a Node<'a>, &'p str) {
        match (self.services, path.strip_prefix("spec.services")) {
            (Some(services), Some(rest)) => (services, rest.trim_start_matches('.')),
            _ => (self.node, path),
        }
    }

    fn loc(&self, path: &str) -> Loc {
        let (node, path) = self.at(path);
        node.locate(path).loc
    }

    fn key_loc(&self, path: &str) -> Loc {
        let (node, path) = self.at(path);
        node.locate_key(path)
    }

    fn source_ref(&self, path: &str) -> SourceRef {
        let loc = self.key_loc(path);
        SourceRef { file: self.sources.path_of(loc), line: loc.line, column: loc.column, path: path.to_string() }
    }

    fn error(&mut self, code: &'static str, path: &str, message: impl Into<String>) {
        let loc = self.key_loc(path);
        self.out.push(Diagnostic::error(code, loc, path, message));
    }

    fn error_hint(&mut self, code: &'static str, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        let loc = self.key_loc(path);
        self.out.push(Diagnostic::error(code, loc, path, message).with_hint(hint));
    }

    fn decode<T: Deserialize<'a>>(&mut self, node: &'a Node) -> Option<T> {
        match T::deserialize(node) {
            Ok(v) => Some(v),
            Err(e) => {
                // The structural check accepts what the raw types accept; reaching this is a bug,
                // but still report it as a diagnostic rather than panicking.
                let loc = node.loc;
                self.out.push(Diagnostic::error(
                    "invalid-document",
                    loc,
                    "",
                    format!("cannot read this document: {e}"),
                ));
                None
            }
        }
    }

    /// A field that must be set once profiles are merged.
    fn required<T: Clone>(&mut self, value: &Option<T>, path: &str) -> Option<T> {
        if value.is_none() {
            let field = path.rsplit('.').next().unwrap_or(path);
            let loc = self.loc(path);
            self.out.push(
                Diagnostic::error("missing-field", loc, path, format!("missing required field `{field}`"))
                    .with_hint("set it in this service block or in a profile the customer lists"),
            );
        }
        value.clone()
    }

    fn non_empty(&mut self, value: &str, path: &str) -> bool {
        if value.trim().is_empty() {
            self.error("empty-value", path, "must not be empty");
            return false;
        }
        true
    }

    fn dns_label(&mut self, name: &str, path: &str) {
        if !is_dns_label(name) {
            self.error_hint(
                "invalid-name",
                path,
                format!("`{name}` is not a valid name"),
                "use a DNS label: lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters",
            );
        }
    }

    fn email(&mut self, value: &str, path: &str) {
        if !is_email(value) {
            self.error_hint(
                "invalid-email",
                path,
                format!("`{value}` is not a valid e-mail address"),
                "write it as name@domain.example",
            );
        }
    }

    fn domain(&mut self, value: &str, path: &str) {
        if !is_domain(value) {
            self.error_hint(
                "invalid-domain",
                path,
                format!("`{value}` is not a valid domain name"),
                "write a DNS name such as acme.example, without scheme or path",
            );
        }
    }

    fn country(&mut self, value: &str, path: &str) {
        if !is_country(value) {
            let hint = if value.len() == 2 && is_country(&value.to_ascii_uppercase()) {
                format!("country codes are upper case: `{}`", value.to_ascii_uppercase())
            } else {
                "use an ISO 3166-1 alpha-2 code such as GB, US or DE".to_string()
            };
            self.error_hint(
                "invalid-country",
                path,
                format!("`{value}` is not an ISO 3166-1 alpha-2 country code"),
                hint,
            );
        }
    }

    fn phone(&mut self, value: &str, path: &str) {
        let digits = value.chars().filter(char::is_ascii_digit).count();
        let allowed = value.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !allowed || !(6..=20).contains(&digits) {
            self.error_hint(
                "invalid-phone",
                path,
                format!("`{value}` is not a valid phone number"),
                "use digits with optional +, spaces, dashes or parentheses, e.g. +44 113 496 0000",
            );
        }
    }

    fn contacts(&mut self, raw: &BTreeMap<String, raw::Contact>) -> BTreeMap<String, Person> {
        let mut out = BTreeMap::new();
        for (key, c) in raw {
            let path = format!("spec.contacts.{key}");
            self.non_empty(&c.first_name, &format!("{path}.firstName"));
            self.non_empty(&c.last_name, &format!("{path}.lastName"));
            self.email(&c.email, &format!("{path}.email"));
            if let Some(p) = &c.phone {
                self.phone(p, &format!("{path}.phone"));
            }
            if let Some(p) = &c.mobile {
                self.phone(p, &format!("{path}.mobile"));
            }
            out.insert(
                key.clone(),
                Person {
                    first_name: c.first_name.clone(),
                    last_name: c.last_name.clone(),
                    email: c.email.clone(),
                    phone: c.phone.clone(),
                    mobile: c.mobile.clone(),
                },
            );
        }
        out
    }

    /// Resolve a person given by a contact name or inline fields.
    fn person(
        &mut self,
        contact: Option<&str>,
        inline: (Option<&String>, Option<&String>, Option<&String>),
        contacts: &BTreeMap<String, Person>,
        path: &str,
    ) -> Option<Person> {
        let (first, last, email) = inline;
        let from_contact = match contact {
            Some(name) => match contacts.get(name) {
                Some(p) => Some(p.clone()),
                None => {
                    let hint = match similar_name(name, contacts.keys().map(String::as_str)) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None if contacts.is_empty() => "declare it under spec.contacts".to_string(),
                        None => {
                            format!("declared contacts: {}", contacts.keys().cloned().collect::<Vec<_>>().join(", "))
                        }
                    };
                    self.error_hint(
                        "unknown-contact",
                        &format!("{path}.contact"),
                        format!("contact `{name}` does not exist"),
                        hint,
                    );
                    return None;
                }
            },
            None => None,
        };
        let mut person = match from_contact {
            Some(p) => p,
            None => {
                if first.is_none() || last.is_none() || email.is_none() {
                    self.error_hint(
                        "missing-field",
                        path,
                        "a person needs `contact` or all of `firstName`, `lastName` and `email`",
                        "e.g. `contact: primary` to use spec.contacts.primary",
                    );
                    return None;
                }
                Person {
                    first_name: String::new(),
                    last_name: String::new(),
                    email: String::new(),
                    phone: None,
                    mobile: None,
                }
            }
        };
        if let Some(f) = first {
            person.first_name = f.clone();
        }
        if let Some(l) = last {
            person.last_name = l.clone();
        }
        if let Some(e) = email {
            self.email(e, &format!("{path}.email"));
            person.email = e.clone();
        }
        Some(person)
    }

    fn company(&mut self, raw: &raw::Company) -> Company {
        self.non_empty(&raw.name, "spec.company.name");
        self.domain(&raw.domain, "spec.company.domain");
        if self.non_empty(&raw.account_number, "spec.company.accountNumber")
            && !raw.account_number.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            self.error_hint(
                "invalid-account-number",
                "spec.company.accountNumber",
                format!("`{}` is not a valid account number", raw.account_number),
                "use letters, digits and - _ . / only",
            );
        }
        let a = &raw.address;
        self.non_empty(&a.street, "spec.company.address.street");
        self.non_empty(&a.city, "spec.company.address.city");
        self.non_empty(&a.postcode, "spec.company.address.postcode");
        self.country(&a.country, "spec.company.address.country");
        if let Some(p) = &raw.phone {
            self.phone(p, "spec.company.phone");
        }
        Company {
            name: raw.name.clone(),
            domain: raw.domain.to_ascii_lowercase(),
            account_number: raw.account_number.clone(),
            address: Address {
                street: a.street.clone(),
                street2: a.street2.clone(),
                city: a.city.clone(),
                state: a.state.clone(),
                postcode: a.postcode.clone(),
                country: a.country.clone(),
            },
            phone: raw.phone.clone(),
        }
    }

    /// Where a user adds `externalId:` for this service: the service block in the object's own
    /// document when it has one, otherwise `spec.services` (or `spec`).
    fn adoption(&self, vendor: &str, external_id: &Option<String>) -> Adoption {
        let own = self.node;
        let path = format!("spec.services.{vendor}");
        let at_path = if own.get("spec").and_then(|s| s.get("services")).and_then(|s| s.get(vendor)).is_some() {
            path
        } else if own.get("spec").and_then(|s| s.get("services")).is_some() {
            "spec.services".to_string()
        } else {
            "spec".to_string()
        };
        let loc = own.locate_key(&at_path);
        Adoption {
            external_id: external_id.clone(),
            at: SourceRef { file: self.sources.path_of(loc), line: loc.line, column: loc.column, path: at_path },
        }
    }

    fn reseller(&mut self, name: &str, raw: &raw::ResellerDocument) -> Option<Reseller> {
        let before = self.out.len();
        self.dns_label(name, "metadata.name");
        let company = self.company(&raw.spec.company);
        let contacts = self.contacts(&raw.spec.contacts);
        let owner = OwnerKind::Reseller;
        let services = Services {
            acronis: raw
                .spec
                .services
                .acronis
                .as_ref()
                .and_then(|s| self.account_service("acronis", s, &contacts, owner)),
            watchguard: raw
                .spec
                .services
                .watchguard
                .as_ref()
                .and_then(|s| self.account_service("watchguard", s, &contacts, owner)),
            ..Services::default()
        };
        (self.out.len() == before).then(|| Reseller {
            name: name.to_string(),
            labels: raw.metadata.labels.clone(),
            drift: raw.spec.drift,
            company,
            contacts,
            services,
            origin: self.source_ref("metadata.name"),
        })
    }

    fn customer(&mut self, name: &str, raw: &raw::CustomerDocument) -> Option<Customer> {
        let before = self.out.len();
        self.dns_label(name, "metadata.name");
        let company = self.company(&raw.spec.company);
        let contacts = self.contacts(&raw.spec.contacts);
        let s = &raw.spec.services;
        let owner = OwnerKind::Customer;
        let services = Services {
            veeam: s.veeam.as_ref().and_then(|v| self.veeam(v, &company, &contacts)),
            datto: s.datto.as_ref().and_then(|v| self.datto(v, &contacts)),
            velocloud: s.velocloud.as_ref().and_then(|v| self.velocloud(name, v, &contacts)),
            acronis: s.acronis.as_ref().and_then(|v| self.account_service("acronis", v, &contacts, owner)),
            watchguard: s.watchguard.as_ref().and_then(|v| self.account_service("watchguard", v, &contacts, owner)),
            avepoint: s.avepoint.as_ref().and_then(|v| self.avepoint(v, &company, &contacts)),
        };
        (self.out.len() == before).then(|| Customer {
            name: name.to_string(),
            labels: raw.metadata.labels.clone(),
            drift: raw.spec.drift,
            reseller: raw.spec.reseller.clone(),
            profiles: raw.spec.profiles.clone(),
            company,
            contacts,
            services,
            origin: self.source_ref("metadata.name"),
        })
    }

    fn veeam(
        &mut self,
        v: &raw::VeeamService,
        company: &Company,
        contacts: &BTreeMap<String, Person>,
    ) -> Option<Veeam> {
        let p = "spec.services.veeam";
        let owner = self.required(&v.owner, &format!("{p}.owner"));
        let (username, password) = match &owner {
            Some(o) => (
                self.required(&o.username, &format!("{p}.owner.username")),
                self.required(&o.password, &format!("{p}.owner.password")),
            ),
            None => (None, None),
        };
        if let Some(u) = &username {
            self.non_empty(u, &format!("{p}.owner.username"));
        }
        let pulse = v.pulse.unwrap_or(true);
        let vdc = match &v.vdc {
            None => None,
            Some(vdc) => {
                if !pulse {
                    self.error_hint(
                        "vdc-needs-pulse",
                        &format!("{p}.vdc"),
                        "VDC registration needs the company registered in VCSP Pulse",
                        "remove `pulse: false` or the `vdc` block",
                    );
                }
                if is_public_mail_domain(&company.domain) {
                    self.error_hint(
                        "public-mail-domain",
                        "spec.company.domain",
                        format!(
                            "`{}` is a public mail domain; Veeam Data Cloud needs a domain the customer owns",
                            company.domain
                        ),
                        "VDC invites only addresses in the customer's own domain",
                    );
                }
                let primary = self.required(&vdc.primary_admin, &format!("{p}.vdc.primaryAdmin"));
                let admin = match &vdc.admin {
                    Some(a) => self.person(
                        a.contact.as_deref(),
                        (a.first_name.as_ref(), a.last_name.as_ref(), a.email.as_ref()),
                        contacts,
                        &format!("{p}.vdc.admin"),
                    ),
                    None => None,
                };
                if primary == Some(VdcPrimaryAdmin::CustomerManaged) {
                    match &admin {
                        None if vdc.admin.is_none() => self.error_hint(
                            "missing-field",
                            &format!("{p}.vdc.admin"),
                            "a customer-managed VDC needs its primary administrator",
                            "e.g. `admin: {contact: primary}`; the e-mail must be the customer's Microsoft 365 account",
                        ),
                        Some(a) if !email_in_domain(&a.email, &company.domain) && !is_m365_initial(&a.email) => self.error_hint(
                            "vdc-admin-domain",
                            &format!("{p}.vdc.admin"),
                            format!("the VDC administrator `{}` is not in the customer's domain `{}`", a.email, company.domain),
                            "a customer-managed VDC administrator must be a Microsoft 365 account of the customer: in its own domain, or its tenant's `onmicrosoft.com` domain",
                        ),
                        _ => {}
                    }
                }
                primary.map(|primary_admin| Vdc { primary_admin, admin })
            }
        };
        Some(Veeam {
            owner_username: username?,
            owner_password: password?,
            pulse,
            vdc,
            adoption: self.adoption("veeam", &v.external_id),
        })
    }

    fn datto(&mut self, v: &raw::DattoService, contacts: &BTreeMap<String, Person>) -> Option<Datto> {
        let p = "spec.services.datto";
        let product = self.required(&v.product, &format!("{p}.product"));
        let region = self.required(&v.region, &format!("{p}.region"));
        let term = self.required(&v.term, &format!("{p}.term"));
        let retention = self.required(&v.retention, &format!("{p}.retention"));
        let managed_by = self.required(&v.managed_by, &format!("{p}.managedBy"));
        if v.acknowledge_terms != Some(true) {
            self.error_hint(
                "acknowledgement-required",
                &format!("{p}.acknowledgeTerms"),
                "the Add SaaS Protection Client form requires acknowledging Datto's terms",
                "set `acknowledgeTerms: true` once the terms are accepted",
            );
        }
        let client_user = match &v.client_user {
            Some(u) => {
                let cp = format!("{p}.clientUser");
                let person = self.person(
                    u.contact.as_deref(),
                    (u.first_name.as_ref(), u.last_name.as_ref(), u.email.as_ref()),
                    contacts,
                    &cp,
                );
                let country_code = self.required(&u.country_code, &format!("{cp}.countryCode"));
                if let Some(cc) = &country_code
                    && !(cc.starts_with('+')
                        && (2..=4).contains(&cc.len())
                        && cc[1..].chars().all(|c| c.is_ascii_digit()))
                {
                    self.error_hint(
                        "invalid-country-code",
                        &format!("{cp}.countryCode"),
                        format!("`{cc}` is not a dialling code"),
                        "write it like +44 or +1",
                    );
                }
                let mobile = u.mobile.clone().or_else(|| person.as_ref().and_then(|p| p.mobile.clone()));
                if mobile.is_none() && person.is_some() {
                    self.error_hint(
                        "missing-field",
                        &format!("{cp}.mobile"),
                        "missing required field `mobile`",
                        "the client user's mobile phone (or a contact with `mobile`)",
                    );
                }
                if let Some(m) = &mobile {
                    self.phone(m, &format!("{cp}.mobile"));
                }
                match (person, country_code, mobile) {
                    (Some(person), Some(country_code), Some(mobile)) => {
                        Some(DattoClientUser { person, country_code, mobile })
                    }
                    _ => None,
                }
            }
            None => {
                if managed_by == Some(DattoManagedBy::Client) {
                    self.error_hint(
                        "missing-field",
                        &format!("{p}.clientUser"),
                        "a client-managed Datto client needs `clientUser`",
                        "Datto e-mails this person to authorize the backup, e.g. `clientUser: {contact: primary, countryCode: \"+44\"}`",
                    );
                }
                None
            }
        };
        let lic = v.licensing.clone().unwrap_or_default();
        let cap = match &lic.cap {
            Some(c) if c.enabled.unwrap_or(true) => {
                let seats = c.seats;
                if seats.is_none() {
                    self.error_hint(
                        "missing-field",
                        &format!("{p}.licensing.cap.seats"),
                        "an enabled license cap needs `seats`",
                        "e.g. `cap: {enabled: true, seats: 50}`",
                    );
                }
                seats
            }
            _ => None,
        };
        let seat_types: BTreeSet<DattoSeatType> =
            lic.seat_types.clone().unwrap_or_else(|| vec![DattoSeatType::User]).into_iter().collect();
        if product == Some(DattoProduct::GoogleWorkspace) {
            for t in &seat_types {
                if !matches!(t, DattoSeatType::User | DattoSeatType::SharedDrive) {
                    self.error_hint(
                        "invalid-seat-type",
                        &format!("{p}.licensing.seatTypes"),
                        format!("seat type `{t:?}` does not exist for Google Workspace"),
                        "Google Workspace seats are User or SharedDrive",
                    );
                }
            }
        }
        Some(Datto {
            product: product?,
            region: region?,
            term: term?,
            retention: retention?,
            managed_by: managed_by?,
            client_user,
            auto_add: lic.auto_add.unwrap_or(false),
            cap,
            seat_types,
            adoption: self.adoption("datto", &v.external_id),
        })
    }

    fn velocloud(
        &mut self,
        customer: &str,
        v: &raw::VeloCloudService,
        contacts: &BTreeMap<String, Person>,
    ) -> Option<VeloCloud> {
        let p = "spec.services.velocloud";
        let access = v.access.clone().unwrap_or_default();
        let admin = self.required(&v.admin, &format!("{p}.admin"));
        let (username, password, person) = match &admin {
            Some(a) => {
                let username = self.required(&a.username, &format!("{p}.admin.username"));
                if let Some(u) = &username
                    && !is_email(u)
                {
                    self.error_hint(
                        "invalid-username",
                        &format!("{p}.admin.username"),
                        format!("`{u}` is not in user@domain form"),
                        "VeloCloud logins look like an e-mail address, e.g. admin@acme.example",
                    );
                }
                let password = self.required(&a.password, &format!("{p}.admin.password"));
                let mut person = self.person(
                    a.contact.as_deref(),
                    (a.first_name.as_ref(), a.last_name.as_ref(), a.email.as_ref()),
                    contacts,
                    &format!("{p}.admin"),
                );
                if let Some(person) = &mut person {
                    if let Some(ph) = &a.phone {
                        self.phone(ph, &format!("{p}.admin.phone"));
                        person.phone = Some(ph.clone());
                    }
                    if let Some(m) = &a.mobile {
                        self.phone(m, &format!("{p}.admin.mobile"));
                        person.mobile = Some(m.clone());
                    }
                }
                (username, password, person)
            }
            None => (None, None, None),
        };
        let configuration = match self.required(&v.configuration, &format!("{p}.configuration")) {
            Some(raw::VeloCloudConfiguration::Profile(name)) => Some(VeloCloudConfiguration::Profile(name)),
            Some(raw::VeloCloudConfiguration::ConfigurationId(id)) => Some(VeloCloudConfiguration::ConfigurationId(id)),
            Some(raw::VeloCloudConfiguration::CloneFrom(from)) => {
                if from == customer {
                    self.error(
                        "invalid-configuration",
                        &format!("{p}.configuration.cloneFrom"),
                        "a customer cannot clone its own configuration",
                    );
                }
                Some(VeloCloudConfiguration::CloneFrom(from))
            }
            None => None,
        };
        let gateway_pool = self.required(&v.gateway_pool, &format!("{p}.gatewayPool"));
        let images = self.required(&v.software_images, &format!("{p}.softwareImages"));
        let (manage, list, default) = match images {
            Some(img) => {
                let ip = format!("{p}.softwareImages");
                let manage = img.manage.unwrap_or(false);
                let list = img.images.clone().unwrap_or_default();
                let mut seen = BTreeSet::new();
                for (i, name) in list.iter().enumerate() {
                    if !seen.insert(name) {
                        self.error(
                            "duplicate-image",
                            &format!("{ip}.images[{i}]"),
                            format!("image `{name}` is listed twice"),
                        );
                    }
                }
                let default = if manage {
                    match &img.default {
                        None => {
                            self.error_hint(
                                "missing-field",
                                &format!("{ip}.default"),
                                "managed software images need a `default`",
                                "name one of `images` as the default",
                            );
                            None
                        }
                        Some(d) if !list.contains(d) => {
                            self.error_hint(
                                "invalid-image",
                                &format!("{ip}.default"),
                                format!("default image `{d}` is not in `images`"),
                                "the default must be one of the offered images",
                            );
                            None
                        }
                        Some(d) => Some(d.clone()),
                    }
                } else if list.len() != 1 {
                    self.error_hint(
                        "invalid-images",
                        &format!("{ip}.images"),
                        format!(
                            "without `manage: true` a customer gets exactly one software image, found {}",
                            list.len()
                        ),
                        "list one image, or set `manage: true` with a `default` to offer several",
                    );
                    None
                } else {
                    if let Some(d) = &img.default
                        && Some(d) != list.first()
                    {
                        self.error(
                            "invalid-image",
                            &format!("{ip}.default"),
                            format!("default image `{d}` is not the listed image"),
                        );
                    }
                    list.first().cloned()
                };
                if list.is_empty() && manage {
                    self.error("invalid-images", &format!("{ip}.images"), "list at least one software image");
                }
                (manage, list, default)
            }
            None => (false, Vec::new(), None),
        };
        let licenses = v.edge_licenses.clone().unwrap_or_default();
        let mut seen = BTreeSet::new();
        for (i, l) in licenses.iter().enumerate() {
            if !seen.insert(l) {
                self.error(
                    "duplicate-license",
                    &format!("{p}.edgeLicenses[{i}]"),
                    format!("edge licence `{l}` is listed twice"),
                );
            }
        }
        Some(VeloCloud {
            partner_support: access.partner_support.unwrap_or(true),
            vmware_support: access.vmware_support.unwrap_or(true),
            user_management: access.user_management.unwrap_or(false),
            admin_username: username?,
            admin_password: password?,
            admin: person?,
            configuration: configuration?,
            gateway_pool: gateway_pool?,
            manage_images: manage,
            images: list,
            default_image: default?,
            edge_licenses: licenses,
            analytics: v.analytics.unwrap_or(false),
            adoption: self.adoption("velocloud", &v.external_id),
        })
    }

    fn account_service(
        &mut self,
        vendor: &str,
        v: &raw::AccountService,
        contacts: &BTreeMap<String, Person>,
        owner: OwnerKind,
    ) -> Option<AccountService> {
        let p = format!("spec.services.{vendor}");
        let username = self.required(&v.username, &format!("{p}.username"));
        let email = self.required(&v.email, &format!("{p}.email"));
        if let Some(e) = &email {
            self.email(e, &format!("{p}.email"));
        }
        if let Some(u) = &username {
            let ok = if vendor == "watchguard" {
                (5..=65).contains(&u.len()) && u.chars().all(|c| c.is_ascii_alphanumeric() || ".-_+".contains(c))
            } else {
                !u.is_empty() && u.len() <= 255 && !u.chars().any(char::is_whitespace)
            };
            if !ok {
                let rule = if vendor == "watchguard" {
                    "WatchGuard operator names are 5-65 letters, digits, `.`, `-`, `_` or `+`"
                } else {
                    "a login is one word without spaces"
                };
                self.error_hint(
                    "invalid-username",
                    &format!("{p}.username"),
                    format!("`{u}` is not a valid {vendor} username"),
                    rule,
                );
            }
            if Some(u) == email.as_ref() {
                self.error_hint(
                    "username-is-email",
                    &format!("{p}.username"),
                    "the username must differ from the e-mail",
                    "the vendor uses the e-mail for activation and the username as the unique login",
                );
            }
        }
        let contact = v.contact.clone().unwrap_or_else(|| "primary".to_string());
        let admin = match contacts.get(&contact) {
            Some(p) => Some(p.clone()),
            None => {
                let path = if v.contact.is_some() { format!("{p}.contact") } else { "spec.contacts".to_string() };
                self.error_hint(
                    "unknown-contact",
                    &path,
                    format!("contact `{contact}` does not exist"),
                    format!("{vendor} names its administrator from a contact; declare spec.contacts.{contact} or set `contact:`"),
                );
                None
            }
        };
        let phone = v.phone.clone().or_else(|| admin.as_ref().and_then(|a| a.phone.clone().or(a.mobile.clone())));
        if let Some(ph) = &v.phone {
            self.phone(ph, &format!("{p}.phone"));
        }
        if vendor == "watchguard" && phone.is_none() && admin.is_some() {
            self.error_hint(
                "missing-field",
                &format!("{p}.phone"),
                "WatchGuard requires the operator's phone",
                "set `phone:` or give the contact a phone",
            );
        }
        let _ = owner;
        Some(AccountService {
            username: username?,
            email: email?,
            phone,
            admin: admin?,
            adoption: self.adoption(vendor, &v.external_id),
        })
    }

    fn avepoint(
        &mut self,
        v: &raw::AvePointService,
        company: &Company,
        contacts: &BTreeMap<String, Person>,
    ) -> Option<AvePoint> {
        let p = "spec.services.avepoint";
        let account_type = self.required(&v.account_type, &format!("{p}.accountType"));
        let registration = self.required(&v.registration_account, &format!("{p}.registrationAccount"));
        if let Some(r) = &registration {
            self.email(r, &format!("{p}.registrationAccount"));
        }
        let password = self.required(&v.password, &format!("{p}.password"));
        let country = v.country.clone().unwrap_or_else(|| company.address.country.clone());
        if v.country.is_some() {
            self.country(&country, &format!("{p}.country"));
        }
        let data_center = self.required(&v.data_center, &format!("{p}.dataCenter"));
        let services = v.services.clone().unwrap_or_default();
        let mut seen = BTreeSet::new();
        let mut items = Vec::new();
        for (i, s) in services.iter().enumerate() {
            let sp = format!("{p}.services[{i}]");
            if !seen.insert(s.product) {
                self.error(
                    "duplicate-service",
                    &format!("{sp}.product"),
                    format!("service `{:?}` is listed twice", s.product),
                );
            }
            let license = s.license.unwrap_or(AvePointLicense::Trial);
            if license == AvePointLicense::Enterprise && s.seats.is_none() {
                self.error_hint(
                    "missing-field",
                    &format!("{sp}.seats"),
                    "an enterprise licence takes seats from the partner pool: set `seats`",
                    "e.g. `seats: 50`",
                );
            }
            items.push(model::AvePointServiceItem {
                product: s.product,
                license,
                seats: s.seats,
                retention_years: s.retention_years,
            });
        }
        let tags = v.tags.clone().unwrap_or_default();
        for (i, t) in tags.iter().enumerate() {
            if t.starts_with(crate::model::MARKER_PREFIX) {
                self.error_hint(
                    "reserved-tag",
                    &format!("{p}.tags[{i}]"),
                    "tags starting with `tenantry:` are reserved",
                    "tenantry writes its owner marker `tenantry:<name>` itself",
                );
            }
        }
        let billing = v.billing_reports.clone().unwrap_or_default();
        for (i, r) in billing.recipients.iter().enumerate() {
            self.email(r, &format!("{p}.billingReports.recipients[{i}]"));
        }
        let service_reports = v.service_reports.clone().unwrap_or_default();
        for (i, r) in service_reports.recipients.iter().enumerate() {
            self.email(r, &format!("{p}.serviceReports.recipients[{i}]"));
        }
        for (send, recipients, path) in [
            (billing.send, &billing.recipients, "billingReports"),
            (service_reports.send, &service_reports.recipients, "serviceReports"),
        ] {
            if send == Some(true) && recipients.is_empty() {
                self.error_hint(
                    "missing-field",
                    &format!("{p}.{path}.recipients"),
                    "reports are sent but have no recipients",
                    "list at least one e-mail address",
                );
            }
        }
        let contact = contacts.get("primary").cloned().or_else(|| contacts.values().next().cloned());
        if contact.is_none() {
            self.error_hint(
                "unknown-contact",
                "spec.contacts",
                "AvePoint onboarding needs a contact for the customer's first and last name",
                "declare spec.contacts.primary",
            );
        }
        Some(AvePoint {
            account_type: account_type?,
            registration_account: registration?,
            password: password?,
            country,
            data_center: data_center?,
            tenant: v.tenant.clone().unwrap_or_else(|| company.domain.clone()),
            services: items,
            management_mode: v.management_mode.unwrap_or(AvePointManagementMode::Partner),
            tags,
            billing_reports: Reports { send: billing.send.unwrap_or(false), recipients: billing.recipients.clone() },
            billing_profile: billing.billing_profile.clone(),
            job_notification_profile: v.job_notification_profile.clone(),
            service_reports: Reports {
                send: service_reports.send.unwrap_or(false),
                recipients: service_reports.recipients.clone(),
            },
            hide_expired_services: v.hide_expired_services.unwrap_or(false),
            contact: contact?,
            adoption: self.adoption("avepoint", &v.external_id),
        })
    }

    fn config(&mut self, raw: &raw::ConfigDocument) -> Config {
        let s = &raw.spec;
        let origin = Some(self.source_ref("kind"));
        let mut connections = BTreeMap::new();
        let c = &s.connections;
        let limits = |me: &mut Self, l: &Option<raw::Limits>, path: &str| -> model::Limits {
            let l = l.clone().unwrap_or_default();
            let d = model::Limits::default();
            let rps = l.requests_per_second.unwrap_or(d.requests_per_second);
            for (v, f) in [
                (l.requests_per_second, "requestsPerSecond"),
                (l.concurrency, "concurrency"),
                (l.timeout_seconds, "timeoutSeconds"),
                (l.burst, "burst"),
            ] {
                if v == Some(0) {
                    me.error("out-of-range", &format!("{path}.limits.{f}"), "must be at least 1");
                }
            }
            let mut duration = |text: &Option<String>, field: &str, default: std::time::Duration| {
                let Some(text) = text else { return default };
                let at = format!("{path}.limits.{field}");
                match me.duration(text, &at) {
                    Some(d) if d.is_zero() => {
                        me.error("out-of-range", &at, "must be more than 0s");
                        default
                    }
                    Some(d) => d,
                    None => default,
                }
            };
            let connect_timeout = duration(&l.connect_timeout, "connectTimeout", d.connect_timeout);
            let retry_budget = duration(&l.retry_budget, "retryBudget", d.retry_budget);
            let max_retry_after = duration(&l.max_retry_after, "maxRetryAfter", d.max_retry_after);
            model::Limits {
                requests_per_second: rps.max(1),
                burst: l.burst.unwrap_or(rps).max(1),
                concurrency: l.concurrency.unwrap_or(d.concurrency).max(1),
                timeout: std::time::Duration::from_secs(u64::from(l.timeout_seconds.unwrap_or(30).max(1))),
                penalty: None,
                connect_timeout,
                retry_budget,
                max_retry_after,
            }
        };
        if let Some(v) = &c.veeam {
            let path = "spec.connections.veeam";
            self.url(&v.base_url, &format!("{path}.baseUrl"));
            let secrets = BTreeMap::from([("password".to_string(), v.password.clone())]);
            let l = limits(self, &v.limits, path);
            connections.insert(
                Vendor::Veeam,
                Connection {
                    vendor: Vendor::Veeam,
                    base_url: v.base_url.clone(),
                    identity_url: None,
                    principal: Some(v.username.clone()),
                    secrets,
                    home: None,
                    ids: BTreeMap::new(),
                    limits: l,
                },
            );
        }
        if let Some(v) = &c.datto {
            let path = "spec.connections.datto";
            self.url(&v.base_url, &format!("{path}.baseUrl"));
            let secrets = BTreeMap::from([
                ("publicKey".to_string(), v.public_key.clone()),
                ("secretKey".to_string(), v.secret_key.clone()),
            ]);
            let mut l = limits(self, &v.limits, path);
            if v.limits.as_ref().and_then(|l| l.timeout_seconds).is_none() {
                // Datto's domain list takes ~30 s to answer.
                l.timeout = std::time::Duration::from_secs(90);
            }
            connections.insert(
                Vendor::Datto,
                Connection {
                    vendor: Vendor::Datto,
                    base_url: v.base_url.clone(),
                    identity_url: None,
                    principal: None,
                    secrets,
                    home: None,
                    ids: BTreeMap::new(),
                    limits: l,
                },
            );
        }
        if let Some(v) = &c.velocloud {
            let path = "spec.connections.velocloud";
            self.url(&v.base_url, &format!("{path}.baseUrl"));
            let secrets = BTreeMap::from([("token".to_string(), v.token.clone())]);
            let l = limits(self, &v.limits, path);
            let ids: BTreeMap<String, String> =
                v.edge_licenses.iter().map(|(k, id)| (format!("license:{k}"), id.to_string())).collect();
            connections.insert(
                Vendor::Velocloud,
                Connection {
                    vendor: Vendor::Velocloud,
                    base_url: v.base_url.clone(),
                    identity_url: None,
                    principal: None,
                    secrets,
                    home: None,
                    ids,
                    limits: l,
                },
            );
        }
        if let Some(v) = &c.acronis {
            let path = "spec.connections.acronis";
            self.url(&v.base_url, &format!("{path}.baseUrl"));
            self.non_empty(&v.tenant_id, &format!("{path}.tenantId"));
            let secrets = BTreeMap::from([("clientSecret".to_string(), v.client_secret.clone())]);
            let l = limits(self, &v.limits, path);
            connections.insert(
                Vendor::Acronis,
                Connection {
                    vendor: Vendor::Acronis,
                    base_url: v.base_url.clone(),
                    identity_url: None,
                    principal: Some(v.client_id.clone()),
                    secrets,
                    home: Some(v.tenant_id.clone()),
                    ids: BTreeMap::new(),
                    limits: l,
                },
            );
        }
        if let Some(v) = &c.watchguard {
            let path = "spec.connections.watchguard";
            self.url(&v.base_url, &format!("{path}.baseUrl"));
            self.non_empty(&v.account_id, &format!("{path}.accountId"));
            let secrets = BTreeMap::from([
                ("password".to_string(), v.password.clone()),
                ("apiKey".to_string(), v.api_key.clone()),
            ]);
            let l = limits(self, &v.limits, path);
            connections.insert(
                Vendor::Watchguard,
                Connection {
                    vendor: Vendor::Watchguard,
                    base_url: v.base_url.clone(),
                    identity_url: None,
                    principal: Some(v.access_id.clone()),
                    secrets,
                    home: Some(v.account_id.clone()),
                    ids: BTreeMap::new(),
                    limits: l,
                },
            );
        }
        if let Some(v) = &c.avepoint {
            let path = "spec.connections.avepoint";
            self.url(&v.base_url, &format!("{path}.baseUrl"));
            self.url(&v.identity_url, &format!("{path}.identityUrl"));
            let secrets = BTreeMap::from([("clientSecret".to_string(), v.client_secret.clone())]);
            let l = limits(self, &v.limits, path);
            connections.insert(
                Vendor::Avepoint,
                Connection {
                    vendor: Vendor::Avepoint,
                    base_url: v.base_url.clone(),
                    identity_url: Some(v.identity_url.clone()),
                    principal: Some(v.client_id.clone()),
                    secrets,
                    home: None,
                    ids: BTreeMap::new(),
                    limits: l,
                },
            );
        }

        let state_url = s.state.as_ref().map(|st| st.url.clone());
        if let Some(u) = &state_url
            && !u.starts_with("sqlite:")
        {
            self.error_hint(
                "invalid-state-url",
                "spec.state.url",
                format!("unsupported state URL `{u}`"),
                "use `sqlite:PATH` (relative to the manifest directory)",
            );
        }

        let mut policies = Policies::default();
        if let Some(p) = &s.policies {
            policies.drift = p.drift;
            policies.prune = p.prune.unwrap_or(false);
            policies.allow_irreversible = p.allow_irreversible.unwrap_or(false);
            if let Some(text) = &p.datto_authorization_expiry {
                policies.datto_authorization_expiry = self
                    .duration(text, "spec.policies.dattoAuthorizationExpiry")
                    .unwrap_or(policies.datto_authorization_expiry);
            }
            if let Some(text) = &p.avepoint_link_expiry {
                policies.avepoint_link_expiry =
                    self.duration(text, "spec.policies.avepointLinkExpiry").unwrap_or(policies.avepoint_link_expiry);
            }
        }

        let portal_tasks = match &s.portal_tasks {
            None => PortalTaskDelivery::Record,
            Some(pt) => match pt.executor {
                PortalTaskExecutor::Record => PortalTaskDelivery::Record,
                PortalTaskExecutor::Webhook => match &pt.webhook {
                    Some(w) => {
                        self.url(&w.url, "spec.portalTasks.webhook.url");
                        PortalTaskDelivery::Webhook { url: w.url.clone(), headers: w.headers.clone() }
                    }
                    None => {
                        self.error_hint(
                            "missing-field",
                            "spec.portalTasks.webhook",
                            "the webhook executor needs `webhook: {url: ...}`",
                            "e.g. `webhook: {url: https://psa.example/hooks/tenantry}`",
                        );
                        PortalTaskDelivery::Record
                    }
                },
                PortalTaskExecutor::Command => match &pt.command {
                    Some(cmd) => {
                        self.non_empty(&cmd.program, "spec.portalTasks.command.program");
                        PortalTaskDelivery::Command { program: cmd.program.clone(), args: cmd.args.clone() }
                    }
                    None => {
                        self.error_hint(
                            "missing-field",
                            "spec.portalTasks.command",
                            "the command executor needs `command: {program: ...}`",
                            "e.g. `command: {program: ./scripts/open-ticket}`",
                        );
                        PortalTaskDelivery::Record
                    }
                },
            },
        };
        Config { connections, state_url, policies, portal_tasks, origin }
    }

    fn url(&mut self, text: &str, path: &str) {
        match reqwest::Url::parse(text) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
            _ => self.error_hint(
                "invalid-url",
                path,
                format!("`{text}` is not an http(s) URL"),
                "write the full URL, e.g. https://api.example.net/v1",
            ),
        }
    }

    fn duration(&mut self, text: &str, path: &str) -> Option<std::time::Duration> {
        let d = model::parse_duration(text);
        if d.is_none() {
            self.error_hint(
                "invalid-duration",
                path,
                format!("`{text}` is not a duration"),
                "write it like 72h, 30m, 7d, 1h30m or 500ms",
            );
        }
        d
    }
}

/// Picks a value that must be unique, and the field path it sits at.
type UniqueField = dyn Fn(&Company, &Services) -> Option<(String, String)>;

/// Rules that span documents: references between manifests and values vendors need unique.
fn cross_checks(
    desired: &DesiredState,
    declared: &Declared,
    resellers: &BTreeMap<String, &Node>,
    customers: &BTreeMap<String, &Node>,
    sources: &SourceMap,
    out: &mut Vec<Diagnostic>,
) {
    let node_of = |owner: &ManifestRef| -> Option<&Node> {
        match owner.kind {
            OwnerKind::Customer => customers.get(&owner.name).copied(),
            OwnerKind::Reseller => resellers.get(&owner.name).copied(),
        }
    };

    for customer in desired.customers.values() {
        let node = customers.get(&customer.name).copied();
        let at = |path: &str| node.map(|n| n.locate_key(path)).unwrap_or_default();
        if let Some(r) = &customer.reseller {
            match desired.resellers.get(r) {
                None if !declared.contains(&(Kind::Reseller, r.clone())) => {
                    let hint = match similar_name(r, resellers.keys().map(String::as_str)) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => "declare a Reseller with this metadata.name, or remove spec.reseller to place the customer directly under the MSP".to_string(),
                    };
                    out.push(
                        Diagnostic::error(
                            "unknown-reseller",
                            at("spec.reseller"),
                            "spec.reseller",
                            format!("reseller `{r}` does not exist"),
                        )
                        .with_hint(hint),
                    );
                }
                None => {} // the reseller has its own errors
                Some(reseller) => {
                    for (vendor, uses, has) in [
                        ("acronis", customer.services.acronis.is_some(), reseller.services.acronis.is_some()),
                        ("watchguard", customer.services.watchguard.is_some(), reseller.services.watchguard.is_some()),
                    ] {
                        if uses && !has {
                            out.push(
                                Diagnostic::error(
                                    "reseller-missing-service",
                                    at(&format!("spec.services.{vendor}")),
                                    format!("spec.services.{vendor}"),
                                    format!("this customer's {vendor} account sits under reseller `{r}`, which has no {vendor} service"),
                                )
                                .with_hint(format!("add services.{vendor} to Reseller {r}, or remove spec.reseller")),
                            );
                        }
                    }
                }
            }
        }
        if let Some(v) = &customer.services.velocloud
            && let VeloCloudConfiguration::CloneFrom(from) = &v.configuration
            && from != &customer.name
        {
            let path = "spec.services.velocloud.configuration.cloneFrom";
            match desired.customers.get(from) {
                Some(other) if other.services.velocloud.is_none() => out.push(Diagnostic::error(
                    "invalid-clone-source",
                    at(path),
                    path,
                    format!("customer `{from}` has no velocloud service to clone"),
                )),
                Some(_) => {}
                None if declared.contains(&(Kind::Customer, from.clone())) => {}
                None => out.push(
                    Diagnostic::error("unknown-customer", at(path), path, format!("customer `{from}` does not exist"))
                        .with_hint(
                            similar_name(from, customers.keys().map(String::as_str))
                                .map(|c| format!("did you mean `{c}`?"))
                                .unwrap_or_else(|| "name the metadata.name of another customer".into()),
                        ),
                ),
            }
        }
    }

    // Edge licences are named in manifests and resolved through tenantry.yaml (VCO v1 cannot list
    // them): a name the map lacks would only fail half-way through an apply.
    if let Some(conn) = desired.config.connections.get(&crate::model::Vendor::Velocloud)
        && conn.ids.keys().any(|k| k.starts_with("license:"))
    {
        for customer in desired.customers.values() {
            let Some(v) = &customer.services.velocloud else { continue };
            let node = customers.get(&customer.name).copied();
            for (i, l) in v.edge_licenses.iter().enumerate() {
                if !conn.ids.contains_key(&format!("license:{l}")) && l.parse::<u64>().is_err() {
                    let path = format!("spec.services.velocloud.edgeLicenses[{i}]");
                    let known: Vec<&str> = conn.ids.keys().filter_map(|k| k.strip_prefix("license:")).collect();
                    out.push(
                        Diagnostic::error(
                            "unknown-license",
                            node.map(|n| n.locate_key(&path)).unwrap_or_default(),
                            path,
                            format!("edge licence `{l}` is not in connections.velocloud.edgeLicenses"),
                        )
                        .with_hint(format!("known licences: {}; add `{l}: <id>` to tenantry.yaml", known.join(", "))),
                    );
                }
            }
        }
    }

    // Values a vendor needs unique: report every repeat at its own place, naming the first.
    let mut check_unique = |label: &str, code: &'static str, entries: Vec<(String, ManifestRef, String)>| {
        let mut first: BTreeMap<String, (ManifestRef, String)> = BTreeMap::new();
        for (value, owner, path) in entries {
            let key = value.to_ascii_lowercase();
            match first.get(&key) {
                Some((other, other_path)) => {
                    let loc = node_of(&owner).map(|n| n.locate_key(&path)).unwrap_or_default();
                    let other_loc = node_of(other).map(|n| n.locate_key(other_path)).unwrap_or_default();
                    out.push(
                        Diagnostic::error(
                            code,
                            loc,
                            path.clone(),
                            format!("{label} `{value}` is already used by {other}"),
                        )
                        .with_hint(format!("first used at {}; the vendors need it unique", sources.display(other_loc))),
                    );
                }
                None => {
                    first.insert(key, (owner, path));
                }
            }
        }
    };
    let owners: Vec<(ManifestRef, &Company, &Services)> = desired
        .resellers
        .values()
        .map(|r| (ManifestRef::reseller(&r.name), &r.company, &r.services))
        .chain(desired.customers.values().map(|c| (ManifestRef::customer(&c.name), &c.company, &c.services)))
        .collect();
    let collect = |f: &UniqueField| -> Vec<(String, ManifestRef, String)> {
        owners.iter().filter_map(|(o, c, s)| f(c, s).map(|(v, p)| (v, o.clone(), p))).collect()
    };
    check_unique(
        "account number",
        "duplicate-account-number",
        collect(&|c, _| Some((c.account_number.clone(), "spec.company.accountNumber".into()))),
    );
    check_unique("domain", "duplicate-domain", collect(&|c, _| Some((c.domain.clone(), "spec.company.domain".into()))));
    check_unique(
        "company name",
        "duplicate-company-name",
        collect(&|c, _| Some((c.name.clone(), "spec.company.name".into()))),
    );
    check_unique(
        "Acronis login",
        "duplicate-username",
        collect(&|_, s| s.acronis.as_ref().map(|a| (a.username.clone(), "spec.services.acronis.username".into()))),
    );
    check_unique(
        "WatchGuard operator",
        "duplicate-username",
        collect(&|_, s| {
            s.watchguard.as_ref().map(|a| (a.username.clone(), "spec.services.watchguard.username".into()))
        }),
    );
    check_unique(
        "VeloCloud admin login",
        "duplicate-username",
        collect(&|_, s| {
            s.velocloud.as_ref().map(|v| (v.admin_username.clone(), "spec.services.velocloud.admin.username".into()))
        }),
    );
    check_unique(
        "AvePoint registration account",
        "duplicate-username",
        collect(&|_, s| {
            s.avepoint
                .as_ref()
                .map(|a| (a.registration_account.clone(), "spec.services.avepoint.registrationAccount".into()))
        }),
    );
}

pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub fn is_domain(s: &str) -> bool {
    if s.len() > 253 || !s.contains('.') {
        return false;
    }
    let labels: Vec<&str> = s.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    }) && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
}

pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        && is_domain(domain)
}

/// A Microsoft 365 account in a tenant's initial domain (`admin@contoso.onmicrosoft.com`): every
/// Microsoft 365 tenant has one, so it names a Microsoft 365 account whatever the customer's own
/// domain is.
fn is_m365_initial(email: &str) -> bool {
    email.rsplit_once('@').is_some_and(|(user, d)| {
        let d = d.to_ascii_lowercase();
        !user.is_empty() && d.strip_suffix(".onmicrosoft.com").is_some_and(|t| !t.is_empty() && !t.contains('.'))
    })
}

fn email_in_domain(email: &str, domain: &str) -> bool {
    email.rsplit_once('@').is_some_and(|(_, d)| {
        let d = d.to_ascii_lowercase();
        d == domain || d.ends_with(&format!(".{domain}"))
    })
}

fn is_public_mail_domain(domain: &str) -> bool {
    const PUBLIC: &[&str] = &[
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "mail.com",
        "yandex.ru",
        "web.de",
        "zoho.com",
    ];
    PUBLIC.contains(&domain)
}

/// ISO 3166-1 alpha-2 codes.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL \
GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR \
LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK \
PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR \
TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

pub fn is_country(s: &str) -> bool {
    s.len() == 2 && COUNTRIES.split(' ').any(|c| c == s)
}

/// The codes [`is_country`] accepts, as a JSON Schema pattern.
pub fn country_pattern() -> String {
    format!("^({})$", COUNTRIES.split(' ').collect::<Vec<_>>().join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(is_email("ada@acme.example"));
        assert!(!is_email("ada@acme"));
        assert!(!is_email("ada acme@x.example"));
        assert!(!is_email("@x.example"));
        assert!(is_domain("acme.co.uk"));
        assert!(!is_domain("https://acme.example"));
        assert!(is_dns_label("acme-01"));
        assert!(!is_dns_label("Acme"));
        assert!(!is_dns_label("-acme"));
        assert!(is_country("GB"));
        assert!(!is_country("UK"));
        assert!(email_in_domain("it@eu.acme.example", "acme.example"));
        assert!(!email_in_domain("it@acme.example.evil", "acme.example"));
    }
}
