//! Reading the org tree: descendants paged by depth, ancestors up to the
//! root, batch gets naming every missing unit, and lists by filter and page.

use tonic::Code;
use trellis_proto::cascade::v1::{
    BatchGetOrgUnitsRequest, ListAncestorsRequest, ListDescendantsRequest, ListOrgUnitsRequest,
};
use trellis_tests::{TestApp, backend_tests};

use crate::org::*;
use crate::support::{expect_code, load_org, violated_fields};

backend_tests!(
    descendants_page_by_depth_and_ancestors_run_to_the_root,
    batch_get_names_every_missing_unit,
    lists_filter_and_page,
);

async fn descendants_page_by_depth_and_ancestors_run_to_the_root(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut org = app.org.clone();
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListDescendantsRequest {
            name: "orgUnits/acme".into(),
            max_depth: 0,
            page_size: 1,
            page_token,
        };
        let page = org.list_descendants(request).await?.into_inner();
        names.extend(page.org_units.into_iter().map(|unit| unit.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(names, vec!["orgUnits/product", "orgUnits/sales", "orgUnits/emea"]);

    let shallow = ListDescendantsRequest {
        name: "orgUnits/acme".into(),
        max_depth: 1,
        ..ListDescendantsRequest::default()
    };
    assert_eq!(org.list_descendants(shallow).await?.into_inner().org_units.len(), 2);
    let ancestors = org
        .list_ancestors(ListAncestorsRequest {
            name: "orgUnits/acme".into(),
        })
        .await?
        .into_inner();
    assert!(ancestors.org_units.is_empty());
    expect_code(
        org.list_ancestors(ListAncestorsRequest {
            name: "orgUnits/ghost".into(),
        })
        .await,
        Code::NotFound,
    )?;
    Ok(())
}

async fn batch_get_names_every_missing_unit(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    let mut org = app.org.clone();
    let found = org
        .batch_get_org_units(BatchGetOrgUnitsRequest {
            names: vec!["orgUnits/emea".into(), "orgUnits/acme".into()],
            allow_missing: false,
        })
        .await?
        .into_inner()
        .org_units;
    let names: Vec<&str> = found.iter().map(|unit| unit.name.as_str()).collect();
    assert_eq!(names, vec!["orgUnits/emea", "orgUnits/acme"]);
    assert_eq!(found[0].ancestors, vec!["orgUnits/acme", "orgUnits/sales"]);
    assert!(found[1].ancestors.is_empty());
    let mut request = BatchGetOrgUnitsRequest {
        names: vec!["orgUnits/acme".into(), "orgUnits/x1".into(), "orgUnits/x2".into()],
        allow_missing: true,
    };
    let answered = org.batch_get_org_units(request.clone()).await?.into_inner();
    assert_eq!(answered.org_units.len(), 1);
    assert_eq!(answered.missing, vec!["orgUnits/x1", "orgUnits/x2"]);
    request.allow_missing = false;
    let status = expect_code(org.batch_get_org_units(request).await, Code::NotFound)?;
    assert!(
        status.message().contains("orgUnits/x1") && status.message().contains("orgUnits/x2"),
        "{}",
        status.message()
    );
    Ok(())
}

async fn lists_filter_and_page(app: TestApp) -> anyhow::Result<()> {
    load_org(&app).await?;
    assert_eq!(
        names_of(&app, r#"parent = "orgUnits/acme""#).await?,
        vec!["orgUnits/product", "orgUnits/sales"]
    );
    assert_eq!(
        names_of(&app, "kind = team OR kind = company").await?,
        vec!["orgUnits/acme", "orgUnits/emea"]
    );
    assert_eq!(names_of(&app, r#"parent = """#).await?, vec!["orgUnits/acme"]);
    assert_eq!(
        names_of(&app, "depth >= 1 AND NOT kind = team").await?,
        vec!["orgUnits/product", "orgUnits/sales"]
    );
    assert_eq!(names_of(&app, "display_name:MEA").await?, vec!["orgUnits/emea"]);
    assert_eq!(
        names_of(&app, "NOT (kind = team OR kind = company)").await?,
        vec!["orgUnits/product", "orgUnits/sales"],
        "NOT over a group"
    );
    assert_eq!(
        names_of(&app, "kind = (team OR company)").await?,
        vec!["orgUnits/acme", "orgUnits/emea"],
        "a group of values"
    );
    assert_eq!(
        names_of(&app, r#"(kind = team AND depth >= 1) OR parent = """#).await?,
        vec!["orgUnits/acme", "orgUnits/emea"],
        "parentheses regroup what OR would otherwise bind first"
    );
    assert!(
        names_of(&app, r#"display_name:"_""#).await?.is_empty(),
        "LIKE wildcards match literally"
    );
    let mut org = app.org.clone();
    let bad = ListOrgUnitsRequest {
        filter: "colour = red".into(),
        ..ListOrgUnitsRequest::default()
    };
    let status = expect_code(org.list_org_units(bad).await, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["filter"]);
    let too_deep = ListOrgUnitsRequest {
        filter: format!("{}kind = team{}", "(".repeat(17), ")".repeat(17)),
        ..ListOrgUnitsRequest::default()
    };
    let status = expect_code(org.list_org_units(too_deep).await, Code::InvalidArgument)?;
    assert_eq!(violated_fields(&status), vec!["filter"]);
    assert!(status.message().contains("16 levels"), "{}", status.message());

    let first = org
        .list_org_units(ListOrgUnitsRequest {
            page_size: 3,
            ..ListOrgUnitsRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!(first.org_units.len(), 3);
    let second = ListOrgUnitsRequest {
        page_size: 3,
        page_token: first.next_page_token.clone(),
        ..ListOrgUnitsRequest::default()
    };
    let second = org.list_org_units(second).await?.into_inner();
    assert_eq!(second.org_units.len(), 1);
    assert!(second.next_page_token.is_empty());

    let refiltered = ListOrgUnitsRequest {
        page_size: 3,
        page_token: first.next_page_token.clone(),
        filter: "kind = team".into(),
    };
    expect_code(org.list_org_units(refiltered).await, Code::InvalidArgument)?;
    let mut tampered = first.next_page_token.clone();
    tampered.replace_range(0..2, "zz");
    let tampered = ListOrgUnitsRequest {
        page_size: 3,
        page_token: tampered,
        ..ListOrgUnitsRequest::default()
    };
    expect_code(org.list_org_units(tampered).await, Code::InvalidArgument)?;
    expect_code(
        org.list_org_units(ListOrgUnitsRequest {
            page_size: -1,
            ..ListOrgUnitsRequest::default()
        })
        .await,
        Code::InvalidArgument,
    )?;
    Ok(())
}
