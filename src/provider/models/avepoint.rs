//! AvePoint Elements: onboard the customer through the partner API (with tags and management
//! mode), obtain tenant consent through an authorization link that expires after 72 hours, and
//! add services. Later changes of management mode, reports, tags and disconnect are portal
//! tasks.

use serde_json::{Value as Json, json};

use super::{adoption, depends, object, owners, set};
use crate::model::{
    AvePointAccountType, AvePointDataCenter, AvePointLicense, AvePointManagementMode, AvePointProduct, DesiredState,
    Vendor,
};
use crate::provider::{
    AwaitPolicy, DesiredObject, Field, NaturalKey, Need, ObservedObject, Overdue, PortalForm, Realize, Retire,
    TransitionRule, VendorModel, Verify,
};

pub struct AvePoint;

/// The add-service API's product code, where the API offers the product.
pub fn product_code(p: AvePointProduct) -> Option<u32> {
    match p {
        AvePointProduct::CloudBackupM365 => Some(2048),
        AvePointProduct::CloudBackupExpress => Some(274),
        AvePointProduct::BaselineManagement => Some(40),
        AvePointProduct::WorkspaceManagement => Some(42),
        AvePointProduct::UserDeviceManagement => Some(49),
        AvePointProduct::StorageOptimization => Some(65),
        // The partner API has no product code for it: added in the portal.
        AvePointProduct::CloudBackupGoogleWorkspace => None,
    }
}

/// The service name the services list reports.
pub fn product_name(p: AvePointProduct) -> &'static str {
    match p {
        AvePointProduct::CloudBackupM365 => "Cloud Backup for Microsoft 365",
        AvePointProduct::CloudBackupGoogleWorkspace => "Cloud Backup for Google Workspace",
        AvePointProduct::CloudBackupExpress => "Cloud Backup Express",
        AvePointProduct::BaselineManagement => "Baseline management",
        AvePointProduct::WorkspaceManagement => "Workspace management",
        AvePointProduct::UserDeviceManagement => "User and device management",
        AvePointProduct::StorageOptimization => "Workspace management - storage optimization",
    }
}

/// The pooled licence resource of a product.
pub fn pool_resource(p: AvePointProduct) -> &'static str {
    match p {
        AvePointProduct::CloudBackupM365 | AvePointProduct::CloudBackupExpress => "Office365Backup",
        AvePointProduct::BaselineManagement => "PartnerTenantSettingManagement",
        AvePointProduct::WorkspaceManagement => "PartnerWorkspaceOnboarding",
        AvePointProduct::UserDeviceManagement => "PartnerUserManagement",
        AvePointProduct::StorageOptimization => "PartnerStorageOptimization",
        AvePointProduct::CloudBackupGoogleWorkspace => "GoogleWorkspaceBackup",
    }
}

pub fn product_slug(p: AvePointProduct) -> &'static str {
    match p {
        AvePointProduct::CloudBackupM365 => "cloudBackupM365",
        AvePointProduct::CloudBackupGoogleWorkspace => "cloudBackupGoogleWorkspace",
        AvePointProduct::CloudBackupExpress => "cloudBackupExpress",
        AvePointProduct::BaselineManagement => "baselineManagement",
        AvePointProduct::WorkspaceManagement => "workspaceManagement",
        AvePointProduct::UserDeviceManagement => "userDeviceManagement",
        AvePointProduct::StorageOptimization => "storageOptimization",
    }
}

pub fn data_center_id(d: AvePointDataCenter) -> &'static str {
    match d {
        AvePointDataCenter::NorthEurope => "f1cdd2b2-ac32-4509-8784-fb2b947ef519",
        AvePointDataCenter::WestEurope => "4f93bdff-9b11-47b9-aa68-a86bfa09f61c",
        AvePointDataCenter::UkSouth => "d95b9c82-a426-400f-8256-70646fdd1b4f",
        AvePointDataCenter::GermanyWestCentral => "3225f6f8-a98c-425e-8279-c6696d99659d",
    }
}

fn account_type(t: AvePointAccountType) -> &'static str {
    match t {
        AvePointAccountType::M365GlobalAdmin => "m365GlobalAdmin",
        AvePointAccountType::M365UsGovernmentGlobalAdmin => "m365UsGovernmentGlobalAdmin",
        AvePointAccountType::GoogleSuperAdmin => "googleSuperAdmin",
        AvePointAccountType::SalesforceSystemAdmin => "salesforceSystemAdmin",
        AvePointAccountType::LocalAccount => "localAccount",
        AvePointAccountType::AuthorizationLink => "authorizationLink",
    }
}

fn mode(m: AvePointManagementMode) -> &'static str {
    match m {
        AvePointManagementMode::Partner => "partner",
        AvePointManagementMode::Customer => "customer",
    }
}

impl VendorModel for AvePoint {
    fn portal_page(&self, task: &str) -> String {
        super::portal_page(task)
    }

    fn vendor(&self) -> Vendor {
        Vendor::Avepoint
    }

    fn desire(&self, desired: &DesiredState) -> Vec<DesiredObject> {
        let link_expiry = desired.config.policies.avepoint_link_expiry;
        let mut out = Vec::new();
        for owner in owners(desired) {
            let Some(a) = &owner.services.avepoint else { continue };
            let c = owner.company;
            let customer_key = owner.key(Vendor::Avepoint, "customer");
            let mut customer = object(
                customer_key.clone(),
                format!("customer \"{}\"", c.name),
                NaturalKey::new([("email", a.registration_account.clone())]),
                Realize::Create,
            );
            customer.adoption = adoption(&a.adoption);
            // The owner marker is a tag AvePoint never reports back; the organization name
            // tenantry entered identifies the customer when the state store is lost.
            customer.identifying = vec!["organizationName".into()];
            // The owner marker is a tag set at onboarding (tags cannot be changed by API later).
            let mut tags = vec![owner.marker()];
            tags.extend(a.tags.iter().cloned());
            let mode_field = Field::portal_after_create(
                json!(mode(a.management_mode)),
                "avepoint/change-management-mode",
            )
            .with_transition(json!("partner"), json!("customer"), TransitionRule::OneWay)
            .with_transition(
                json!("customer"),
                json!("partner"),
                TransitionRule::Refused(
                    "once the customer manages its tenant, AvePoint does not hand management back to the partner"
                        .into(),
                ),
            );
            set(
                &mut customer,
                [
                    ("organizationName", Field::create_only(json!(c.name))),
                    ("registrationAccount", Field::create_only(json!(a.registration_account))),
                    ("firstName", Field::create_only(json!(a.contact.first_name)).unobservable()),
                    ("lastName", Field::create_only(json!(a.contact.last_name)).unobservable()),
                    ("countryCode", Field::create_only(json!(a.country))),
                    ("dataCenter", Field::create_only(json!(data_center_id(a.data_center))).unobservable()),
                    ("telephoneNumber", Field::create_only(json!(a.contact.phone)).unobservable()),
                    ("accountType", Field::create_only(json!(account_type(a.account_type))).unobservable()),
                    ("tags", Field::portal_after_create(json!(tags), "avepoint/edit-tags").unobservable()),
                    ("managementMode", mode_field),
                    ("password", Field::secret(&a.password)),
                    (
                        "billingReportsSend",
                        Field::portal(json!(a.billing_reports.send), "avepoint/billing-reports")
                            .unobservable()
                            .defaults_to(json!(false)),
                    ),
                    (
                        "billingReportsRecipients",
                        Field::portal(json!(a.billing_reports.recipients), "avepoint/billing-reports")
                            .unobservable()
                            .defaults_to(json!([])),
                    ),
                    (
                        "billingProfile",
                        Field::portal(json!(a.billing_profile), "avepoint/billing-reports")
                            .unobservable()
                            .defaults_to(Json::Null),
                    ),
                    (
                        "serviceReportsSend",
                        Field::portal(json!(a.service_reports.send), "avepoint/report-recipients")
                            .unobservable()
                            .defaults_to(json!(false)),
                    ),
                    (
                        "serviceReportsRecipients",
                        Field::portal(json!(a.service_reports.recipients), "avepoint/report-recipients")
                            .unobservable()
                            .defaults_to(json!([])),
                    ),
                    (
                        "jobNotificationProfile",
                        Field::portal(json!(a.job_notification_profile), "avepoint/job-notification")
                            .unobservable()
                            .defaults_to(Json::Null),
                    ),
                    (
                        "hideExpiredServices",
                        Field::portal(json!(a.hide_expired_services), "avepoint/service-display")
                            .unobservable()
                            .defaults_to(json!(false)),
                    ),
                ],
            );
            out.push(customer);

            if a.account_type != AvePointAccountType::LocalAccount {
                let (environment, platform, what) = match a.account_type {
                    AvePointAccountType::M365UsGovernmentGlobalAdmin => {
                        (2, 0, "a Microsoft 365 US Government global admin")
                    }
                    AvePointAccountType::GoogleSuperAdmin => (0, 0, "a Google super admin"),
                    AvePointAccountType::SalesforceSystemAdmin => (0, 4, "a Salesforce system admin"),
                    _ => (0, 0, "a Microsoft 365 global admin"),
                };
                let mut consent = object(
                    owner.key(Vendor::Avepoint, "consent"),
                    format!("tenant consent for \"{}\"", a.tenant),
                    NaturalKey::new([("tenant", a.tenant.clone())]).under(customer_key.clone()),
                    Realize::Register,
                );
                consent.parent = Some(customer_key.clone());
                consent.depends_on.push(depends(
                    customer_key.clone(),
                    Need::Exists,
                    "the customer must be onboarded first",
                ));
                let mut recipients: Vec<String> = vec![a.contact.email.clone()];
                if a.registration_account != a.contact.email {
                    recipients.push(a.registration_account.clone());
                }
                set(
                    &mut consent,
                    [
                        ("tenant", Field::create_only(json!(a.tenant))),
                        ("accountType", Field::create_only(json!(account_type(a.account_type))).unobservable()),
                        // Reported by the tenant read (`GET /customers/{id}/tenants/{tenantId}`).
                        ("aadEnvironment", Field::create_only(json!(environment))),
                        ("platformEnvironmentType", Field::create_only(json!(platform))),
                        ("recipients", Field::create_only(json!(recipients)).unobservable()),
                    ],
                );
                consent.await_policy = Some(AwaitPolicy {
                    expected: link_expiry,
                    overdue: Overdue::Register {
                        why: format!(
                            "the authorization link has expired ({} validity); a new link goes to {}",
                            crate::model::format_duration(link_expiry),
                            recipients.join(", ")
                        ),
                    },
                });
                consent.params.insert("who".into(), json!(what));
                out.push(consent);
            }

            for item in &a.services {
                let slug = product_slug(item.product);
                let realize = match product_code(item.product) {
                    Some(_) => Realize::Create,
                    None => Realize::Portal(PortalForm {
                        task: "avepoint/add-service".into(),
                        page: format!(
                            "AvePoint Elements › Customers › customer › Services › Add service › {}",
                            product_name(item.product)
                        ),
                        verify: Verify::Observation,
                    }),
                };
                let mut service = object(
                    owner.key(Vendor::Avepoint, &format!("service/{slug}")),
                    format!("service \"{}\"", product_name(item.product)),
                    NaturalKey::new([("service", product_name(item.product).to_string())]).under(customer_key.clone()),
                    realize,
                );
                service.parent = Some(customer_key.clone());
                service.depends_on.push(depends(
                    customer_key.clone(),
                    Need::Exists,
                    "the customer must be onboarded first",
                ));
                set(
                    &mut service,
                    [
                        ("product", Field::create_only(json!(product_name(item.product)))),
                        ("productCode", Field::create_only(json!(product_code(item.product))).unobservable()),
                        (
                            "licenseType",
                            Field::create_only(json!(match item.license {
                                AvePointLicense::Trial => "trial",
                                AvePointLicense::Enterprise => "enterprise",
                            })),
                        ),
                        ("seats", Field::create_only(json!(item.seats)).unobservable()),
                        ("retentionYears", Field::create_only(json!(item.retention_years)).unobservable()),
                        ("resource", Field::create_only(json!(pool_resource(item.product))).unobservable()),
                    ],
                );
                service.fields.retain(|_, f| f.value.json().is_none_or(|v| !v.is_null()));
                out.push(service);
            }
        }
        out
    }

    fn retire(&self, observed: &ObservedObject) -> Retire {
        if observed.kind != "customer" {
            return Retire::Never("it goes with its customer".into());
        }
        // Disconnecting removes the customer from the partner portal: irreversible, portal-only,
        // and refused by AvePoint while subscriptions are active.
        let active = observed.fields.get("activeServices").and_then(Json::as_u64).unwrap_or(0);
        Retire::Portal {
            form: PortalForm {
                task: "avepoint/disconnect-customer".into(),
                page: super::portal_page("avepoint/disconnect-customer"),
                verify: Verify::Observation,
            },
            irreversible: true,
            blocked_by: (active > 0).then(|| {
                format!("the customer still has {active} active subscription{}; AvePoint disconnects only customers without active subscriptions", if active == 1 { "" } else { "s" })
            }),
        }
    }
}
