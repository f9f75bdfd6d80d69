use super::*;
use crate::conformance;
use crate::test_support::{server_url, unique_name};

const URL_VAR: &str = "MYSQL_URL";
const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";

fn url() -> Option<String> {
    server_url(URL_VAR, DEFAULT_URL, 3306)
}

fn config(url: &str) -> MysqlConfig {
    MysqlConfig {
        table: unique_name("fedikv_t"),
        ..MysqlConfig::new(url)
    }
}

conformance::suite!({
    let Some(url) = url() else { return };
    MysqlBackend::new(config(&url)).unwrap()
});
