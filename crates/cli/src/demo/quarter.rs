//! Cask & Co.'s first quarter: an objective for every team, aligned to
//! the strategies' choices or to the objective above it, with key results
//! of several kinds and the health metrics that guard the stretch goals.

pub const CYCLE_ID: &str = "2027-q1";

/// A key result: (kind, title, start, target, unit).
pub type Kr = (&'static str, &'static str, f64, f64, &'static str);

/// An objective of the quarter.
pub struct ObjectiveData {
    pub id: &'static str,
    pub owner: &'static str,
    pub title: &'static str,
    pub aspirational: bool,
    /// A choice name, or the id of another objective of the quarter.
    pub aligns_to: &'static [&'static str],
    pub guardrails: &'static [&'static str],
    pub key_results: &'static [Kr],
}

const CSAT: &[&str] = &["healthMetrics/csat"];
const DAU: &[&str] = &["healthMetrics/dau"];
const NONE: &[&str] = &[];

macro_rules! objective {
    ($id:literal, $owner:literal, $title:literal, $aspirational:literal, [$($align:literal),*], $guard:expr, [$($kr:expr),*]) => {
        ObjectiveData {
            id: $id,
            owner: $owner,
            title: $title,
            aspirational: $aspirational,
            aligns_to: &[$($align),*],
            guardrails: $guard,
            key_results: &[$($kr),*],
        }
    };
}

pub const OBJECTIVES: &[ObjectiveData] = &[
    objective!(
        "keep-members",
        "caskco",
        "Members stay past month four",
        false,
        ["strategies/club-2027/choices/membership-experience"],
        NONE,
        [
            ("decrease", "Month-four churn", 38.0, 25.0, "%"),
            ("increase", "Members after twelve months", 41.0, 55.0, "%")
        ]
    ),
    objective!(
        "boxes-that-fit",
        "members",
        "Every box feels picked for its member",
        true,
        ["strategies/members-experience/choices/palate-boxes", "keep-members"],
        CSAT,
        [
            ("increase", "Boxes rated 4 or 5", 52.0, 80.0, "%"),
            ("decrease", "Bottles returned", 6.0, 2.0, "%")
        ]
    ),
    objective!(
        "growth-trusted",
        "growth",
        "New members come through people they trust",
        true,
        ["strategies/growth-outreach/choices/referral-loops"],
        NONE,
        [
            ("increase", "Members joining through referrals", 18.0, 40.0, "%"),
            ("decrease", "Cost per retained member", 140.0, 95.0, "EUR")
        ]
    ),
    objective!(
        "palate-profile",
        "product",
        "The app knows each member's palate",
        true,
        ["strategies/product-palate/choices/palate-profile"],
        DAU,
        [
            ("increase", "Members with a palate profile", 0.0, 60.0, "%"),
            ("increase", "Tasting notes logged a week", 900.0, 5000.0, "notes")
        ]
    ),
    objective!(
        "ship-on-time",
        "operations",
        "Every box arrives when promised",
        false,
        ["strategies/club-2027/choices/membership-experience"],
        NONE,
        [
            ("increase", "Boxes delivered on time", 91.0, 98.0, "%"),
            ("decrease", "Damaged bottles", 1.2, 0.4, "%")
        ]
    ),
    objective!(
        "first-box",
        "onboarding",
        "The first box wins the member",
        true,
        ["boxes-that-fit"],
        CSAT,
        [
            ("increase", "New members rating the first box 5", 35.0, 60.0, "%"),
            ("milestone", "Welcome call for every new member", 0.0, 1.0, "")
        ]
    ),
    objective!(
        "curated-picks",
        "curation",
        "Picks that match each palate",
        true,
        ["boxes-that-fit"],
        CSAT,
        [
            ("increase", "Picks matching the palate profile", 20.0, 70.0, "%"),
            ("increase", "Distinct casks a quarter", 24.0, 40.0, "casks")
        ]
    ),
    objective!(
        "club-not-shop",
        "community",
        "Members talk to each other, not just to us",
        true,
        ["strategies/club-2027/choices/membership-experience"],
        NONE,
        [
            ("increase", "Members posting monthly", 8.0, 20.0, "%"),
            ("increase", "Local chapters", 3.0, 10.0, "chapters")
        ]
    ),
    objective!(
        "save-at-risk",
        "retention",
        "Catch members before they drift",
        false,
        ["keep-members"],
        NONE,
        [
            ("increase", "At-risk members contacted within a week", 30.0, 90.0, "%"),
            ("increase", "Paused instead of cancelled", 10.0, 35.0, "%")
        ]
    ),
    objective!(
        "tasting-nights",
        "events",
        "Tasting nights members plan their month around",
        true,
        ["strategies/members-experience/choices/tasting-nights"],
        CSAT,
        [
            ("increase", "Members at a tasting night each month", 9.0, 25.0, "%"),
            ("increase", "Average tasting-night rating", 4.1, 4.6, "points")
        ]
    ),
    objective!(
        "concierge-answers",
        "concierge",
        "Every question answered by someone who knows whiskey",
        false,
        ["keep-members"],
        NONE,
        [
            ("decrease", "Median first answer", 9.0, 2.0, "hours"),
            ("increase", "Answers rated helpful", 78.0, 92.0, "%")
        ]
    ),
    objective!(
        "brand-personas",
        "brand",
        "The brand speaks to curious enthusiasts",
        false,
        ["strategies/club-2027/choices/enthusiasts"],
        NONE,
        [
            ("increase", "Aided awareness among target personas", 11.0, 20.0, "%"),
            ("baseline", "Brand consideration among personas", 0.0, 0.0, "%")
        ]
    ),
    objective!(
        "persona-channels",
        "performance",
        "Spend only where our personas read",
        false,
        ["strategies/growth-outreach/choices/persona-channels"],
        NONE,
        [
            ("increase", "Spend in persona channels", 35.0, 85.0, "%"),
            ("decrease", "Cost per trial box", 48.0, 30.0, "EUR")
        ]
    ),
    objective!(
        "distillery-partners",
        "partnerships",
        "Distilleries bring their fans to the club",
        true,
        ["growth-trusted"],
        NONE,
        [
            ("increase", "Partner distilleries", 6.0, 15.0, "distilleries"),
            ("increase", "Members from partner events", 150.0, 600.0, "members")
        ]
    ),
    objective!(
        "bring-a-friend",
        "referrals",
        "Every member brings a friend",
        true,
        ["growth-trusted"],
        CSAT,
        [
            ("increase", "Members who referred someone", 7.0, 20.0, "%"),
            (
                "increase",
                "Referred members still active after 90 days",
                55.0,
                75.0,
                "%"
            )
        ]
    ),
    objective!(
        "stories",
        "content",
        "Stories enthusiasts forward",
        false,
        ["strategies/growth-outreach/choices/persona-channels"],
        NONE,
        [
            ("increase", "Newsletter open rate", 31.0, 45.0, "%"),
            ("increase", "Articles shared by members", 120.0, 400.0, "shares")
        ]
    ),
    objective!(
        "lifecycle-messages",
        "crm",
        "Messages that follow the member's palate",
        false,
        ["save-at-risk"],
        NONE,
        [
            ("increase", "Messages personalised by palate", 5.0, 60.0, "%"),
            ("decrease", "Unsubscribes per send", 0.8, 0.3, "%")
        ]
    ),
    objective!(
        "tasting-in-app",
        "app",
        "Members taste and rate in the app",
        true,
        ["palate-profile"],
        DAU,
        [
            ("increase", "Bottles rated in the app", 14.0, 50.0, "%"),
            ("increase", "Weekly active tasters", 2100.0, 6000.0, "members")
        ]
    ),
    objective!(
        "shop-by-palate",
        "web",
        "The web shop recommends by palate",
        false,
        ["strategies/product-palate/choices/app-first"],
        NONE,
        [
            ("increase", "Orders from palate recommendations", 3.0, 20.0, "%"),
            ("decrease", "Checkout abandonment", 62.0, 45.0, "%")
        ]
    ),
    objective!(
        "platform-ready",
        "platform",
        "A platform that carries the new club",
        false,
        ["palate-profile"],
        DAU,
        [
            ("threshold", "Weeks with 99.9% app availability", 99.9, 100.0, "%"),
            ("decrease", "p95 app latency", 900.0, 300.0, "ms")
        ]
    ),
    objective!(
        "palate-model",
        "data",
        "A palate model members trust",
        true,
        ["palate-profile"],
        NONE,
        [
            ("increase", "Picks the model predicts a 4+ rating for", 40.0, 70.0, "%"),
            ("milestone", "Palate model in production", 0.0, 1.0, "")
        ]
    ),
    objective!(
        "easy-payments",
        "payments",
        "Paying never interrupts the club",
        false,
        ["keep-members"],
        NONE,
        [
            ("decrease", "Involuntary churn from failed payments", 4.5, 1.5, "%"),
            ("increase", "Members on card updater", 40.0, 90.0, "%")
        ]
    ),
    objective!(
        "design-rituals",
        "design",
        "The app feels like a tasting ritual",
        true,
        ["tasting-in-app"],
        NONE,
        [
            ("increase", "Tasting flow completion", 46.0, 75.0, "%"),
            ("increase", "Usability score", 62.0, 80.0, "points")
        ]
    ),
    objective!(
        "fulfil-promise",
        "fulfilment",
        "Boxes leave the warehouse on day one",
        false,
        ["ship-on-time"],
        NONE,
        [
            ("increase", "Boxes shipped within a day", 74.0, 95.0, "%"),
            ("decrease", "Mis-picked bottles", 0.9, 0.2, "%")
        ]
    ),
    objective!(
        "cask-pipeline",
        "sourcing",
        "Casks for every palate, a year ahead",
        false,
        ["curated-picks"],
        NONE,
        [
            ("increase", "Palate profiles covered by casks in stock", 55.0, 90.0, "%"),
            ("increase", "Independent bottlings secured", 8.0, 20.0, "bottlings")
        ]
    ),
    objective!(
        "care-that-knows",
        "care",
        "Care that knows the member",
        false,
        ["keep-members"],
        CSAT,
        [
            ("increase", "Contacts solved first time", 71.0, 88.0, "%"),
            ("decrease", "Contacts per hundred boxes", 9.0, 5.0, "contacts")
        ]
    ),
    objective!(
        "clean-audits",
        "compliance",
        "Clean duty and age-check audits",
        false,
        [],
        NONE,
        [
            ("milestone", "Excise audit passed", 0.0, 1.0, ""),
            ("increase", "Deliveries with a verified age check", 97.0, 100.0, "%")
        ]
    ),
    objective!(
        "warehouse-tidy",
        "warehouse",
        "A bonded warehouse that runs itself",
        false,
        [],
        NONE,
        [
            ("increase", "Locations with a cycle count", 60.0, 100.0, "%"),
            ("decrease", "Hours to receive a cask", 30.0, 12.0, "hours")
        ]
    ),
    objective!(
        "close-fast",
        "finance",
        "Close the books in five days",
        false,
        ["strategies/club-2027/choices/club-review"],
        NONE,
        [
            ("decrease", "Days to close", 11.0, 5.0, "days"),
            ("increase", "Membership revenue forecast accuracy", 88.0, 97.0, "%")
        ]
    ),
];
