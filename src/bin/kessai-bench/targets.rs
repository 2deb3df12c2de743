//! The targets the main run is judged by, each against the ceiling measured
//! in the same run.

use std::time::Duration;

use crate::load::Stats;
use crate::report::Report;
use crate::{PerDatabase, RunArgs};

pub struct Judged<'a> {
    pub tps_s: f64,
    pub tps_n: f64,
    pub null_get: &'a Stats,
    pub null_list: &'a Stats,
    pub on_sqlite: &'a PerDatabase,
    pub on_pg: &'a PerDatabase,
    pub slow: &'a Stats,
    pub in_flight_rss: f64,
    pub get_small: &'a Stats,
    pub get_large: &'a Stats,
    pub first_page: &'a Stats,
    pub deep_page: &'a Stats,
    pub slowest_start: Duration,
}

pub fn judge(args: &RunArgs, report: &mut Report, j: Judged<'_>) {
    let null_rate = j.null_get.rate();
    let null_p99 = j.null_get.p99();
    let sqlite_get = j.on_sqlite.get.rate();
    report.check(
        "GetOrder on SQLite ≥ 0.5 × null backend",
        format!(
            "{sqlite_get:.0}/s = {:.2} × {null_rate:.0}/s",
            sqlite_get / null_rate
        ),
        sqlite_get >= 0.5 * null_rate,
    );
    let pg_get = j.on_pg.get.rate();
    report.check(
        "GetOrder on PostgreSQL ≥ 0.15 × pgbench -S",
        format!(
            "{pg_get:.0}/s = {:.2} × {:.0} TPS",
            pg_get / j.tps_s,
            j.tps_s
        ),
        pg_get >= 0.15 * j.tps_s,
    );
    for (name, stats) in [("SQLite", &j.on_sqlite.get), ("PostgreSQL", &j.on_pg.get)] {
        report.check(
            format!("GetOrder p99 on {name} ≤ 3 × null backend p99"),
            format!(
                "{:.2} ms = {:.2} × {null_p99:.2} ms",
                stats.p99(),
                stats.p99() / null_p99
            ),
            stats.p99() <= 3.0 * null_p99,
        );
    }
    let pg_auth = j.on_pg.authorize.rate();
    report.check(
        "Authorize on PostgreSQL ≥ 0.5 × pgbench -N",
        format!(
            "{pg_auth:.0}/s = {:.2} × {:.0} TPS",
            pg_auth / j.tps_n,
            j.tps_n
        ),
        pg_auth >= 0.5 * j.tps_n,
    );
    if let Some(cpu) = j.on_pg.authorize.cpu {
        report.check(
            "CPU per Authorize on PostgreSQL: kessai ≤ 0.5 ms",
            format!("{:.3} ms", cpu.server_ms),
            cpu.server_ms <= 0.5,
        );
        let database = cpu.database_ms.unwrap_or(f64::NAN);
        report.check(
            "CPU per Authorize on PostgreSQL: PostgreSQL ≤ 0.6 ms",
            format!("{database:.3} ms"),
            database <= 0.6,
        );
    }
    let sqlite_auth = j.on_sqlite.authorize.rate();
    report.check(
        "Authorize on SQLite ≥ Authorize on PostgreSQL",
        format!("{sqlite_auth:.0}/s vs {pg_auth:.0}/s"),
        sqlite_auth >= pg_auth,
    );
    let pg_flow = j.on_pg.flow.rate();
    report.check(
        "flow on PostgreSQL ≥ 0.15 × pgbench -N",
        format!(
            "{pg_flow:.0} flows/s = {:.2} × {:.0} TPS",
            pg_flow / j.tps_n,
            j.tps_n
        ),
        pg_flow >= 0.15 * j.tps_n,
    );
    let at_64 = [
        ("GetOrder, null backend", j.null_get),
        ("ListOrders, null backend", j.null_list),
        ("GetOrder on SQLite", &j.on_sqlite.get),
        ("Authorize on SQLite", &j.on_sqlite.authorize),
        ("flow on SQLite", &j.on_sqlite.flow),
        ("ListOrders on SQLite", &j.on_sqlite.list),
        ("GetOrder on PostgreSQL", &j.on_pg.get),
        ("Authorize on PostgreSQL", &j.on_pg.authorize),
        ("flow on PostgreSQL", &j.on_pg.flow),
        ("ListOrders on PostgreSQL", &j.on_pg.list),
    ];
    for (name, stats) in at_64 {
        report.check(
            format!("p99 ≤ 3 × p50, {name}"),
            format!(
                "{:.2} ms = {:.2} × {:.2} ms",
                stats.p99(),
                stats.p99() / stats.p50(),
                stats.p50()
            ),
            stats.p99() <= 3.0 * stats.p50(),
        );
    }
    let null_page = j.null_list.rate();
    for (name, on) in [("SQLite", j.on_sqlite), ("PostgreSQL", j.on_pg)] {
        let page = on.list.rate();
        report.check(
            format!("ListOrders page of 50 on {name} ≥ 0.3 × null backend's page"),
            format!("{page:.0}/s = {:.2} × {null_page:.0}/s", page / null_page),
            page >= 0.3 * null_page,
        );
        if let Some(db) = on.authorize.db {
            // BEGIN and COMMIT are round trips too.
            let trips = db.statements + db.begun.unwrap_or(0.0) + db.commits.unwrap_or(0.0);
            report.check(
                format!("round trips per Authorize on {name} ≤ 4"),
                format!(
                    "{trips:.2} ({:.2} statements, {} commits)",
                    db.statements,
                    db.commits.map_or("–".into(), |c| format!("{c:.2}"))
                ),
                trips <= 4.0,
            );
        }
        if let Some(db) = on.get.db {
            report.check(
                format!("statements per GetOrder on {name} ≤ 2"),
                format!("{:.2}", db.statements),
                db.statements <= 2.0,
            );
        }
    }
    let latency = args.provider_latency_ms as f64 / 1000.0;
    let bound = (args.in_flight as f64 / latency).min(pg_auth);
    report.check(
        format!(
            "provider at {} ms, {} callers: ≥ 0.8 × min({} / {latency} s, Authorize at 0 ms)",
            args.provider_latency_ms, args.in_flight, args.in_flight
        ),
        format!(
            "{:.0}/s = {:.2} × {bound:.0}/s",
            j.slow.rate(),
            j.slow.rate() / bound
        ),
        j.slow.rate() >= 0.8 * bound,
    );
    for (name, rss) in [
        ("SQLite", j.on_sqlite.idle_rss),
        ("PostgreSQL", j.on_pg.idle_rss),
    ] {
        report.check(
            format!("idle RSS on {name} ≤ 30 MiB"),
            format!("{rss:.1} MiB"),
            rss <= 30.0,
        );
    }
    report.check(
        format!("RSS with {} calls in flight ≤ 150 MiB", args.in_flight),
        format!("{:.1} MiB", j.in_flight_rss),
        j.in_flight_rss <= 150.0,
    );
    report.check(
        format!(
            "GetOrder p99 with {} orders ≤ 1.5 × with 10,000",
            args.scale
        ),
        format!(
            "{:.2} ms vs {:.2} ms ({:.2} ×)",
            j.get_large.p99(),
            j.get_small.p99(),
            j.get_large.p99() / j.get_small.p99()
        ),
        j.get_large.p99() <= 1.5 * j.get_small.p99(),
    );
    report.check(
        format!(
            "ListOrders page {} costs what page 1 costs (keyset)",
            args.deep_page
        ),
        format!(
            "p50 {:.2} ms vs {:.2} ms, {:.0}/s vs {:.0}/s",
            j.deep_page.p50(),
            j.first_page.p50(),
            j.deep_page.rate(),
            j.first_page.rate()
        ),
        j.deep_page.p50() <= 1.5 * j.first_page.p50(),
    );
    report.check(
        "SERVING within 1 s of start on an existing SQLite database",
        format!("slowest of the starts: {} ms", j.slowest_start.as_millis()),
        j.slowest_start <= Duration::from_secs(1),
    );
}
