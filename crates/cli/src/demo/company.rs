//! Cask & Co., the demo company: a whiskey club whose members join for the
//! first bottles and drift away by the fourth month. Its org, its strategy
//! and the division strategies nested under it, and the health metrics
//! that must stay green while the teams stretch (the quarter of OKRs is in
//! `quarter.rs`).

/// (id, parent, kind, display name)
pub const UNITS: &[(&str, &str, &str, &str)] = &[
    ("caskco", "", "company", "Cask & Co."),
    ("members", "caskco", "division", "Membership"),
    ("growth", "caskco", "division", "Growth & Marketing"),
    ("product", "caskco", "division", "Product & Engineering"),
    ("operations", "caskco", "division", "Operations"),
    ("onboarding", "members", "team", "Member Onboarding"),
    ("curation", "members", "team", "Curation"),
    ("community", "members", "team", "Community"),
    ("retention", "members", "team", "Retention"),
    ("events", "members", "team", "Tasting Events"),
    ("concierge", "members", "team", "Member Concierge"),
    ("brand", "growth", "team", "Brand"),
    ("performance", "growth", "team", "Performance Marketing"),
    ("partnerships", "growth", "team", "Distillery Partnerships"),
    ("referrals", "growth", "team", "Referrals"),
    ("content", "growth", "team", "Content & Editorial"),
    ("crm", "growth", "team", "CRM"),
    ("app", "product", "team", "Club App"),
    ("web", "product", "team", "Web Shop"),
    ("platform", "product", "team", "Platform"),
    ("data", "product", "team", "Data & Palate Science"),
    ("payments", "product", "team", "Payments"),
    ("design", "product", "team", "Product Design"),
    ("fulfilment", "operations", "team", "Fulfilment"),
    ("sourcing", "operations", "team", "Cask Sourcing"),
    ("care", "operations", "team", "Customer Care"),
    ("compliance", "operations", "team", "Compliance"),
    ("warehouse", "operations", "team", "Bonded Warehouse"),
    ("finance", "operations", "team", "Finance Operations"),
];

pub const COMPANY: &str = "club-2027";

/// A strategy: (id, owner, parent choice, display name, challenge,
/// aspiration, choices as (kind, id, title), assumptions as (id, metric, statement)).
pub struct StrategyData {
    pub id: &'static str,
    pub owner: &'static str,
    pub parent_choice: &'static str,
    pub display_name: &'static str,
    pub challenge: &'static str,
    pub aspiration: &'static str,
    pub choices: &'static [(&'static str, &'static str, &'static str)],
    pub assumptions: &'static [(&'static str, &'static str, &'static str)],
}

pub const STRATEGIES: &[StrategyData] = &[
    StrategyData {
        id: COMPANY,
        owner: "caskco",
        parent_choice: "",
        display_name: "A club members never leave",
        challenge: "Members join for the first bottles and drift away by month four: the club feels like a shop, not a club",
        aspiration: "The first place whiskey enthusiasts go to discover, taste and talk whiskey, and stay for years",
        choices: &[
            (
                "where-to-play",
                "enthusiasts",
                "Curious enthusiasts, our newly identified personas, in the UK and DACH",
            ),
            (
                "how-to-win",
                "membership-experience",
                "A membership experience rebuilt around the new personas",
            ),
            (
                "how-to-win",
                "focused-outreach",
                "Marketing outreach focused on those same personas",
            ),
            (
                "capability",
                "palate-data",
                "Know every member's palate from their tasting notes",
            ),
            (
                "management-system",
                "club-review",
                "A monthly club review of retention, CSAT and daily use",
            ),
            (
                "not-doing",
                "no-discount-war",
                "No price-led acquisition or discount war",
            ),
            ("not-doing", "no-retail", "No physical retail stores"),
        ],
        assumptions: &[
            (
                "members-happy",
                "healthMetrics/csat",
                "Members stay satisfied while we rebuild the experience",
            ),
            (
                "daily-habit",
                "healthMetrics/dau",
                "Members keep opening the app every day while it changes",
            ),
            (
                "teams-engaged",
                "healthMetrics/team-engagement",
                "Our product teams stay happy and engaged through the change",
            ),
        ],
    },
    StrategyData {
        id: "members-experience",
        owner: "members",
        parent_choice: "strategies/club-2027/choices/membership-experience",
        display_name: "Boxes that feel picked for you",
        challenge: "Every member gets the same box, so the club feels generic by the third month",
        aspiration: "Every box feels chosen by a friend who knows your palate",
        choices: &[
            ("how-to-win", "palate-boxes", "Boxes picked for each member's palate"),
            (
                "how-to-win",
                "tasting-nights",
                "Monthly online tasting nights with the distillers",
            ),
            ("not-doing", "no-generic-boxes", "No one-size-fits-all boxes"),
        ],
        assumptions: &[],
    },
    StrategyData {
        id: "growth-outreach",
        owner: "growth",
        parent_choice: "strategies/club-2027/choices/focused-outreach",
        display_name: "Reach the enthusiasts where they already read",
        challenge: "Broad campaigns bring bargain hunters who leave after the welcome box",
        aspiration: "Most new members arrive through people and places enthusiasts trust",
        choices: &[
            (
                "where-to-play",
                "persona-channels",
                "The newsletters, forums and festivals our personas already follow",
            ),
            (
                "how-to-win",
                "referral-loops",
                "Members bring friends, with a bottle to share",
            ),
            ("not-doing", "no-broad-tv", "No broad TV or display campaigns"),
        ],
        assumptions: &[],
    },
    StrategyData {
        id: "product-palate",
        owner: "product",
        parent_choice: "strategies/club-2027/choices/palate-data",
        display_name: "The palate profile",
        challenge: "Tasting notes sit in paper booklets, so we cannot learn what a member likes",
        aspiration: "The app knows your palate better than you do",
        choices: &[
            (
                "capability",
                "palate-profile",
                "A palate profile built from in-app tasting notes",
            ),
            (
                "how-to-win",
                "app-first",
                "The app is where members taste, rate and talk",
            ),
        ],
        assumptions: &[],
    },
];

/// A health metric: (id, owner, display name, unit, green, red, cadence in days).
pub const METRICS: &[(&str, &str, &str, &str, f64, f64, i64)] = &[
    ("csat", "members", "Member satisfaction (CSAT)", "points", 4.2, 3.8, 7),
    (
        "dau",
        "product",
        "Daily active members (DAU)",
        "members",
        12_000.0,
        9_000.0,
        1,
    ),
    (
        "team-engagement",
        "product",
        "Product team engagement",
        "%",
        75.0,
        60.0,
        30,
    ),
];

/// CSAT pulses three days apart, oldest first, ending today: it slides
/// from green through yellow into two red readings, so the Four Square
/// rule escalates (and, as it moves from yellow to red while its readings
/// are fresh, a conversation opens for its accountable person).
pub const CSAT_PULSES: &[f64] = &[4.5, 4.4, 4.3, 4.1, 3.7, 3.6];
/// DAU by day, oldest first, ending today.
pub const DAU_DAYS: &[f64] = &[
    12_480.0, 12_510.0, 12_390.0, 12_650.0, 12_720.0, 12_800.0, 12_770.0, 12_940.0, 13_020.0, 12_990.0, 13_110.0,
    13_180.0, 13_260.0, 13_240.0,
];
/// Team engagement by month, oldest first, ending this month.
pub const ENGAGEMENT_MONTHS: &[f64] = &[79.0, 81.0];
