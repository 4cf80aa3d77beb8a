//! Shared views computed once a night. A view is a name for its SELECT:
//! each indicator that reads it runs that SELECT again, and nationally
//! eight prescribing indicators each aggregated 20 million prescribing
//! lines through `prescribing_per_list`. With the local engine, a view that
//! two or more of tonight's queries read is computed once, by the first of
//! them to be computed, and its rows stand in for it until the last has
//! run; then the view is put back.
//!
//! Only the queries see the held rows. What a query reads (the tables
//! whose versions key its kept output, see `reuse`) is found before any
//! view is held, through the views as defined. A view whose rows would
//! take more than [`MOST_HELD`] is not held: held rows are outside the
//! query memory limit, so only small results (a row per practice and
//! month) are worth it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use peerbench_indicators::{Indicator, sandbox};

/// The most the held views' rows may take together: a row per practice
/// and month, nationally over two years, is 10 to 40 MB a view.
const MOST_HELD: usize = 256 << 20;

/// Which shared views tonight's queries read, and those held.
pub(crate) struct ViewsOnce {
    /// Catalogue index → the shared views its query reads directly (not
    /// through another view), for the views two or more queries read.
    reads: BTreeMap<usize, Vec<String>>,
    /// View → the catalogue index of the last query that reads it.
    last: HashMap<String, usize>,
    /// View → its definition and what its rows take, while they stand in
    /// for it.
    held: HashMap<String, (Arc<dyn TableProvider>, usize)>,
    /// Views computed once and found too large, or failing: left as views.
    passed_over: BTreeSet<String>,
    /// What the held views' rows take, and the most they may.
    bytes_held: usize,
    most_held: usize,
}

impl ViewsOnce {
    /// Nothing held: for engines whose sessions are elsewhere.
    pub(crate) fn none() -> ViewsOnce {
        ViewsOnce {
            reads: BTreeMap::new(),
            last: HashMap::new(),
            held: HashMap::new(),
            passed_over: BTreeSet::new(),
            bytes_held: 0,
            most_held: MOST_HELD,
        }
    }

    /// The shared views that two or more distinct queries of
    /// `catalogue` (drafts aside) read directly. A query that cannot be
    /// planned reads none: computing it gives its error.
    pub(crate) async fn of(ctx: &SessionContext, catalogue: &[Indicator]) -> ViewsOnce {
        // The session's views: the names whose provider is a plan.
        let options = ctx.copied_config();
        let names = ctx
            .catalog(&options.options().catalog.default_catalog)
            .and_then(|c| c.schema(&options.options().catalog.default_schema))
            .map(|s| s.table_names())
            .unwrap_or_default();
        let mut definitions = HashMap::new();
        for name in names {
            if let Ok(Some(plan)) = ctx
                .table_provider(name.as_str())
                .await
                .map(|p| p.get_logical_plan().map(|p| p.into_owned()))
            {
                definitions.insert(name, plan);
            }
        }
        let mut reads = BTreeMap::new();
        let mut queries: HashMap<String, Vec<usize>> = HashMap::new();
        let mut seen = BTreeSet::new();
        for (i, ind) in catalogue.iter().enumerate() {
            if ind.draft {
                continue;
            }
            let Ok(plan) = ctx
                .sql_with_options(&ind.sql, sandbox())
                .await
                .map(|df| df.into_unoptimized_plan())
            else {
                continue;
            };
            let direct = views_read(&plan, &definitions);
            // The same query text runs once (see `SameQuery`).
            if seen.insert(ind.query().to_string()) {
                for view in &direct {
                    queries.entry(view.clone()).or_default().push(i);
                }
            }
            reads.insert(i, direct);
        }
        queries.retain(|_, readers| readers.len() > 1);
        for direct in reads.values_mut() {
            direct.retain(|v| queries.contains_key(v));
        }
        reads.retain(|_, direct| !direct.is_empty());
        let last = queries
            .into_iter()
            .map(|(view, readers)| (view, *readers.last().expect("two or more")))
            .collect();
        ViewsOnce {
            reads,
            last,
            held: HashMap::new(),
            passed_over: BTreeSet::new(),
            bytes_held: 0,
            most_held: MOST_HELD,
        }
    }

    /// Before indicator `i`'s query is computed: the shared views it reads
    /// that are not yet held are computed (within `timeout` each) and held.
    pub(crate) async fn before(&mut self, ctx: &SessionContext, i: usize, timeout: Duration) {
        let Some(direct) = self.reads.get(&i) else {
            return;
        };
        for view in direct.clone() {
            if self.held.contains_key(&view) || self.passed_over.contains(&view) {
                continue;
            }
            let started = std::time::Instant::now();
            let room = self.most_held.saturating_sub(self.bytes_held);
            match tokio::time::timeout(timeout, rows_of(ctx, &view, room)).await {
                Ok(Ok(Some((rows, bytes)))) => {
                    let table = match MemTable::try_new(rows.0, rows.1) {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::debug!(view, "not held: {e}");
                            self.passed_over.insert(view);
                            continue;
                        }
                    };
                    // A name is registered once: the view's definition is
                    // taken out, and put back when its last reader has run.
                    let Ok(Some(definition)) = ctx.deregister_table(view.as_str()) else {
                        self.passed_over.insert(view);
                        continue;
                    };
                    if let Err(e) = ctx.register_table(view.as_str(), Arc::new(table)) {
                        tracing::debug!(view, "not held: {e}");
                        let _ = ctx.register_table(view.as_str(), definition);
                        self.passed_over.insert(view);
                        continue;
                    }
                    tracing::debug!(
                        view,
                        "computed once for tonight's queries in {:.2}s, {:.1} MB held",
                        started.elapsed().as_secs_f64(),
                        bytes as f64 / (1 << 20) as f64
                    );
                    self.held.insert(view, (definition, bytes));
                    self.bytes_held += bytes;
                }
                Ok(Ok(None)) => {
                    tracing::debug!(
                        view,
                        "not held: its rows take more than the {room} bytes left to hold"
                    );
                    self.passed_over.insert(view);
                }
                // The query that reads it will fail, or time out, in its
                // own words.
                Ok(Err(e)) => {
                    tracing::debug!(view, "not held: {e}");
                    self.passed_over.insert(view);
                }
                Err(_) => {
                    self.passed_over.insert(view);
                }
            }
        }
    }

    /// After indicator `i` (computed, reused or failed): the views no later
    /// query reads are put back.
    pub(crate) fn after(&mut self, ctx: &SessionContext, i: usize) {
        let done: Vec<String> = self
            .held
            .keys()
            .filter(|v| self.last.get(*v).is_none_or(|&last| last <= i))
            .cloned()
            .collect();
        for view in done {
            self.put_back(ctx, &view);
        }
    }

    /// Every held view put back, as the session was.
    pub(crate) fn put_all_back(&mut self, ctx: &SessionContext) {
        let held: Vec<String> = self.held.keys().cloned().collect();
        for view in held {
            self.put_back(ctx, &view);
        }
    }

    fn put_back(&mut self, ctx: &SessionContext, view: &str) {
        if let Some((definition, bytes)) = self.held.remove(view) {
            self.bytes_held -= bytes;

            // Neither can fail for a bare name in the session's own schema,
            // which the held rows were registered in.
            let _ = ctx.deregister_table(view);
            let _ = ctx.register_table(view, definition);
        }
    }
}

/// The shared views a plan reads directly: a view is inlined into a plan
/// as its own plan under an alias of its name (perhaps below a projection).
fn views_read(plan: &LogicalPlan, definitions: &HashMap<String, LogicalPlan>) -> Vec<String> {
    let mut found = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::SubqueryAlias(alias) = node
            && let Some(definition) = definitions.get(alias.alias.table())
        {
            let input = match alias.input.as_ref() {
                LogicalPlan::Projection(p) if p.input.as_ref() == definition => definition,
                other => other,
            };
            if input == definition {
                found.insert(alias.alias.table().to_string());
                return Ok(TreeNodeRecursion::Jump);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found.into_iter().collect()
}

type HeldRows = (
    arrow::datatypes::SchemaRef,
    Vec<Vec<arrow::record_batch::RecordBatch>>,
);

/// A view's rows, in as many partitions as the session reads at once, and
/// what they take; None when they would take more than `room` bytes.
async fn rows_of(
    ctx: &SessionContext,
    view: &str,
    room: usize,
) -> datafusion::error::Result<Option<(HeldRows, usize)>> {
    let mut stream = ctx.table(view).await?.execute_stream().await?;
    let schema = stream.schema();
    let partitions = ctx.state().config().target_partitions().max(1);
    let mut rows = vec![Vec::new(); partitions];
    let (mut bytes, mut n) = (0usize, 0usize);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        bytes += batch.get_array_memory_size();
        if bytes > room {
            return Ok(None);
        }
        rows[n % partitions].push(batch);
        n += 1;
    }
    Ok(Some(((schema, rows), bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A session with a table of prescribing lines, a view over it
    /// (`per_month`), a view over that one (`busy`) and a view no two
    /// queries read (`alone`).
    async fn session() -> SessionContext {
        let ctx = SessionContext::new();
        for sql in [
            "CREATE TABLE lines (practice_code VARCHAR, month VARCHAR, items BIGINT) AS VALUES \
             ('A81001', '2026-08', 3), ('A81001', '2026-09', 4), ('A81002', '2026-09', 5), ('A81001', '2026-09', 6)",
            "CREATE VIEW per_month AS SELECT practice_code, month, SUM(items) AS items FROM lines GROUP BY practice_code, month",
            "CREATE VIEW busy AS SELECT * FROM per_month WHERE items > 4",
            "CREATE VIEW alone AS SELECT practice_code, month, items FROM lines",
        ] {
            ctx.sql(sql).await.unwrap();
        }
        ctx
    }

    fn indicator(id: &str, select: &str) -> Indicator {
        let text = format!(
            "/*\nid = \"{id}\"\ntitle = \"t\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"prescribing\"\nvalue_type = \"rate\"\nmultiplier = 1000\npolarity = \"no_judgement\"\ndefinition = \"x\"\nsource = \"EPD\"\n*/\n{select}\n"
        );
        Indicator::parse(Path::new(&format!("{id}.sql")), &text).unwrap()
    }

    async fn answer(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        text.lines().map(str::to_string).collect()
    }

    fn is_view(ctx: &SessionContext, name: &str) -> bool {
        futures::executor::block_on(ctx.table_provider(name))
            .unwrap()
            .get_logical_plan()
            .is_some()
    }

    #[tokio::test]
    async fn a_view_two_queries_read_is_held_from_the_first_to_the_last_then_put_back() {
        let ctx = session().await;
        let ordered = "SELECT practice_code, month AS period, items AS numerator, items AS denominator FROM per_month ORDER BY 1, 2";
        let catalogue = vec![
            indicator("a", ordered),
            indicator(
                "b",
                "SELECT practice_code, month AS period, items AS numerator, 1 AS denominator FROM alone",
            ),
            // Through another view only: not a direct reader.
            indicator(
                "c",
                "SELECT practice_code, month AS period, items AS numerator, 1 AS denominator FROM busy",
            ),
            indicator(
                "d",
                "SELECT p.practice_code, p.month AS period, p.items AS numerator, 1 AS denominator FROM per_month AS p ORDER BY 1, 2",
            ),
            indicator(
                "e",
                "SELECT practice_code, month AS period, 1 AS numerator, 1 AS denominator FROM lines",
            ),
        ];
        let expected = answer(&ctx, ordered).await;
        let mut once = ViewsOnce::of(&ctx, &catalogue).await;
        assert_eq!(
            once.reads,
            BTreeMap::from([
                (0, vec!["per_month".to_string()]),
                (3, vec!["per_month".to_string()])
            ])
        );
        let timeout = Duration::from_secs(60);
        once.before(&ctx, 0, timeout).await;
        assert!(
            !is_view(&ctx, "per_month"),
            "held after its first reader starts"
        );
        assert_eq!(
            answer(&ctx, ordered).await,
            expected,
            "the held rows answer as the view did"
        );
        assert!(is_view(&ctx, "busy") && is_view(&ctx, "alone"));
        for i in 0..3 {
            once.after(&ctx, i);
            assert!(!is_view(&ctx, "per_month"), "still held after {i}");
        }
        once.before(&ctx, 3, timeout).await;
        once.after(&ctx, 3);
        assert!(is_view(&ctx, "per_month"), "put back after its last reader");
        assert_eq!(once.bytes_held, 0);
        assert_eq!(answer(&ctx, ordered).await, expected);
    }

    #[tokio::test]
    async fn a_view_too_large_to_hold_stays_a_view() {
        let ctx = session().await;
        let select = "SELECT practice_code, month AS period, items AS numerator, 1 AS denominator FROM per_month";
        let catalogue = vec![
            indicator("a", select),
            indicator("b", &format!("{select} WHERE items > 0")),
        ];
        let mut once = ViewsOnce::of(&ctx, &catalogue).await;
        once.most_held = 16;
        once.before(&ctx, 0, Duration::from_secs(60)).await;
        assert!(is_view(&ctx, "per_month"));
        assert!(once.passed_over.contains("per_month"));
        // Every held view is put back at the end, whatever happened.
        let mut once = ViewsOnce::of(&ctx, &catalogue).await;
        once.before(&ctx, 0, Duration::from_secs(60)).await;
        assert!(!is_view(&ctx, "per_month"));
        once.put_all_back(&ctx);
        assert!(is_view(&ctx, "per_month"));
    }
}
