//! `homesoc-bench ingest`: sustained live ingestion against a running
//! `homesoc up` that this command starts.
//!
//! Senders post batches as fast as the server acknowledges them, through
//! `_bulk` (Winlogbeat documents) or the Logs Ingestion API (JSON records
//! through a `source` transform), for a fixed time. The report gives events
//! per second, the ack latency percentiles, the delay from an ack until a
//! query sees the batch, and the server's resident memory.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Elasticsearch `_bulk` with Winlogbeat documents.
    Bulk,
    /// The Logs Ingestion API.
    Logs,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The homesoc binary to start.
    #[arg(long)]
    homesoc: PathBuf,
    /// Which ingestion API to load.
    #[arg(long, value_enum, default_value = "bulk")]
    mode: Mode,
    /// Seconds of load.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Concurrent senders.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Events per request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    no_tls: bool,
}

const CONFIG: &str = r#"
listen = "127.0.0.1:0"
flush_interval_secs = 5

[[data_collection_rule]]
id = "dcr-bench"

[[data_collection_rule.stream]]
name = "Custom-Bench"
table = "Event"
columns = { TimeGenerated = "datetime", Computer = "string", EventID = "int", Source = "string", RenderedDescription = "string" }
"#;

struct Target {
    url: String,
    key: String,
    mode: Mode,
    client: reqwest::Client,
}

impl Target {
    /// Builds one request body of `batch` events named `name`.
    fn body(&self, name: &str, batch: usize) -> String {
        let mut body = String::with_capacity(batch * 400);
        match self.mode {
            Mode::Bulk => {
                for i in 0..batch {
                    body.push_str("{\"create\":{\"_index\":\"winlogbeat-bench\"}}\n");
                    body.push_str(&format!(
                        concat!(
                            "{{\"@timestamp\":\"2024-06-01T00:00:00.000Z\",\"log\":{{\"level\":\"information\"}},",
                            "\"winlog\":{{\"channel\":\"Security\",\"event_id\":\"4625\",\"provider_name\":\"Microsoft-Windows-Security-Auditing\",",
                            "\"computer_name\":\"{name}\",\"record_id\":\"{i}\",\"task\":\"12544\",\"time_created\":\"2024-06-01T00:00:00.1234567Z\",",
                            "\"event_data\":{{\"TargetUserName\":\"user{i}\",\"TargetDomainName\":\"CORP\",\"LogonType\":\"3\",",
                            "\"IpAddress\":\"10.0.{a}.{b}\",\"IpPort\":\"445\",\"Status\":\"0xc000006d\",\"SubStatus\":\"0xc000006a\",",
                            "\"WorkstationName\":\"WS{i}\",\"ProcessName\":\"-\",\"LogonProcessName\":\"NtLmSsp \"}}}}}}\n"
                        ),
                        name = name,
                        i = i,
                        a = i / 256 % 256,
                        b = i % 256
                    ));
                }
            }
            Mode::Logs => {
                body.push('[');
                for i in 0..batch {
                    if i > 0 {
                        body.push(',');
                    }
                    body.push_str(&format!(
                        "{{\"TimeGenerated\":\"2024-06-01T00:00:00Z\",\"Computer\":\"{name}\",\"EventID\":{i},\"Source\":\"bench\",\"RenderedDescription\":\"service {i} changed state to running after a restart\"}}"
                    ));
                }
                body.push(']');
            }
        }
        body
    }

    async fn send(&self, body: String) -> anyhow::Result<()> {
        let request = match self.mode {
            Mode::Bulk => self
                .client
                .post(format!("{}/_bulk", self.url))
                .header("content-type", "application/x-ndjson"),
            Mode::Logs => self
                .client
                .post(format!(
                    "{}/dataCollectionRules/dcr-bench/streams/Custom-Bench?api-version=2023-01-01",
                    self.url
                ))
                .header("content-type", "application/json"),
        };
        let response = request.bearer_auth(&self.key).body(body).send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() || (self.mode == Mode::Bulk && text.contains("\"errors\":true")) {
            bail!(
                "the server returned {status}: {}",
                &text[..text.len().min(300)]
            );
        }
        Ok(())
    }

    async fn count(&self, table: &str, name: &str) -> anyhow::Result<i64> {
        let query = format!("{table} | where Computer == '{name}' | count");
        let response = self
            .client
            .post(format!("{}/api/query", self.url))
            .bearer_auth(&self.key)
            .body(format!("{{\"query\":{}}}", serde_json_string(&query)))
            .send()
            .await?;
        let text = response.text().await?;
        // {"columns":[...],"rows":[[N]]}
        let start = text.rfind("[[").context("no rows in the query result")? + 2;
        let end = text[start..]
            .find(']')
            .context("no rows in the query result")?
            + start;
        Ok(text[start..end].trim().parse()?)
    }
}

fn serde_json_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn start_server(
    args: &IngestArgs,
    data: &std::path::Path,
    config: &std::path::Path,
) -> anyhow::Result<(Child, String)> {
    let mut command = Command::new(&args.homesoc);
    command
        .arg("--data-dir")
        .arg(data)
        .args(["up", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if args.no_tls {
        command.arg("--no-tls");
    }
    let mut child = command.spawn().context("cannot start homesoc")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let Some(line) = lines.next() else {
            bail!("homesoc up exited before listening");
        };
        if let Some(url) = line?.strip_prefix("homesoc listening on ") {
            let url = url.to_string();
            std::thread::spawn(move || lines.for_each(drop));
            return Ok((child, url));
        }
    }
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

pub fn run(args: IngestArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: IngestArgs) -> anyhow::Result<()> {
    let folder = std::env::temp_dir().join(format!("homesoc-bench-ingest-{}", std::process::id()));
    let data = folder.join("data");
    std::fs::create_dir_all(&data)?;
    let config = folder.join("homesoc.toml");
    std::fs::write(&config, CONFIG)?;
    let key_output = Command::new(&args.homesoc)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "keys",
            "create",
            "--name",
            "bench",
            "--scopes",
            "ingest,query",
        ])
        .output()?;
    if !key_output.status.success() {
        bail!(
            "keys create failed: {}",
            String::from_utf8_lossy(&key_output.stderr)
        );
    }
    let key = String::from_utf8(key_output.stdout)?.trim().to_string();
    let (mut child, url) = start_server(&args, &data, &config)?;
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(60));
    if !args.no_tls {
        let pem = std::fs::read(data.join("tls/cert.pem"))?;
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
    }
    let target = Arc::new(Target {
        url,
        key,
        mode: args.mode,
        client: builder.build()?,
    });

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut senders = Vec::new();
    for sender in 0..args.concurrency {
        let target = target.clone();
        let batch = args.batch;
        senders.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut number = 0usize;
            while Instant::now() < deadline {
                let body = target.body(&format!("s{sender}-b{number}"), batch);
                number += 1;
                let sent = Instant::now();
                target.send(body).await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for sender in senders {
        latencies.extend(sender.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (_, peak_during_load) = rss_kib(child.id());

    // Ack-to-queryable: poll until a query sees a just-acknowledged batch.
    let table = match args.mode {
        Mode::Bulk => "SecurityEvent",
        Mode::Logs => "Event",
    };
    let mut delays = Vec::new();
    for probe in 0..5 {
        let name = format!("probe-{probe}");
        target.send(target.body(&name, args.batch)).await?;
        let acked = Instant::now();
        while target.count(table, &name).await? < args.batch as i64 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        delays.push(acked.elapsed().as_secs_f64() * 1000.0);
    }

    latencies.sort_by(f64::total_cmp);
    delays.sort_by(f64::total_cmp);
    let events = latencies.len() * args.batch;
    println!(
        "mode: {:?}, {} senders, {} events per request, {} s",
        args.mode, args.concurrency, args.batch, args.seconds
    );
    println!(
        "events acknowledged: {events} in {elapsed:.1} s = {:.0} events/s",
        events as f64 / elapsed
    );
    println!(
        "ack latency per request: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
    println!(
        "ack to queryable: median {:.1} ms, max {:.1} ms (5 probes)",
        percentile(&delays, 0.5),
        delays.last().copied().unwrap_or(0.0)
    );
    println!(
        "server peak RSS during load: {} MiB",
        peak_during_load / 1024
    );

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&folder);
    Ok(())
}
