//! The plots of `BENCHMARKS.md`, drawn from the results of a run (one JSON object per line, as
//! the scenario runner keeps them: `{scenario, side, rep, kind, step | level}`).
//!
//! - `fanout-latency.png`: delivery p99 against offered deliveries per second, one panel per
//!   room size, one line per side and repetition;
//! - `fanout-efficiency.png`: deliveries per server CPU-second against the same;
//! - `latency-percentiles.png`: p50…p99.9 of the cross-node deliveries and the durable acks;
//! - `idle-memory.png`: resident memory per idle connection against connections.
//!
//! Axes marked "log" carry log10 of the value, labelled with the value itself.

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use crate::error::{Error, Result};

/// The font every label is drawn with (Debian `fonts-dejavu-core`).
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

type Series = Vec<(String, Vec<(f64, f64)>)>;

/// Writes every plot into `dir` and returns the file names.
pub fn all(results: &[Value], dir: &Path) -> Result<Vec<String>> {
    let font = std::fs::read(FONT).map_err(|e| Error::Setup(format!("{FONT}: {e}")))?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| Error::Setup(format!("{FONT}: not a font")))?;
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();

    let sizes = ["fanout-10", "fanout-100", "fanout-1000"];
    for (file, title, y, y_log) in [
        (
            "fanout-latency.png",
            "delivery p99 (ms, log)",
            "p99_ms",
            true,
        ),
        (
            "fanout-efficiency.png",
            "deliveries per server CPU-second",
            "deliveries_per_cpu_sec",
            false,
        ),
    ] {
        let panels: Vec<(String, Series)> = sizes
            .iter()
            .map(|scenario| {
                let series = series_of(results, scenario, |step| {
                    let offered = step["rate"].as_f64()? * step["room_size"].as_f64()?;
                    let value = if y == "p99_ms" {
                        step["delivery_latency"]["p99_ms"].as_f64()?
                    } else {
                        step[y].as_f64()?
                    };
                    Some((
                        offered.log10(),
                        if y_log {
                            value.max(0.01).log10()
                        } else {
                            value
                        },
                    ))
                });
                (format!("rooms of {}", &scenario[7..]), series)
            })
            .collect();
        draw(
            &dir.join(file),
            &panels,
            "offered deliveries/s (log)",
            title,
            true,
            y_log,
        )?;
        written.push(file.to_string());
    }

    let mut percentiles: Vec<(String, Series)> = Vec::new();
    for (scenario, histogram) in [
        ("cross-node", "delivery_latency"),
        ("durable-ack", "ack_latency"),
    ] {
        let mut series = Series::new();
        for record in results.iter().filter(|r| r["scenario"] == scenario) {
            let h = &record["step"][histogram];
            let points = ["p50_ms", "p90_ms", "p99_ms", "p999_ms"]
                .iter()
                .enumerate()
                .filter_map(|(i, p)| Some((i as f64, h[*p].as_f64()?.max(0.01).log10())))
                .collect();
            series.push((label(record), points));
        }
        percentiles.push((
            format!("{scenario} ({})", histogram.replace('_', " ")),
            series,
        ));
    }
    draw(
        &dir.join("latency-percentiles.png"),
        &percentiles,
        "p50, p90, p99, p99.9",
        "ms (log)",
        false,
        true,
    )?;
    written.push("latency-percentiles.png".into());

    let idle = series_of(results, "idle", |level| {
        Some((
            level["connections"].as_f64()?,
            level["kib_per_connection"].as_f64()?,
        ))
    });
    draw(
        &dir.join("idle-memory.png"),
        &[("idle connections".into(), idle)],
        "connections",
        "RSS KiB per connection",
        false,
        false,
    )?;
    written.push("idle-memory.png".into());
    Ok(written)
}

fn label(record: &Value) -> String {
    format!(
        "{} #{}",
        record["side"].as_str().unwrap_or("?"),
        record["rep"]
    )
}

/// One line per side and repetition of `scenario`, from each of its steps or levels.
fn series_of(
    results: &[Value],
    scenario: &str,
    point: impl Fn(&Value) -> Option<(f64, f64)>,
) -> Series {
    let mut series = Series::new();
    for record in results.iter().filter(|r| r["scenario"] == scenario) {
        let name = label(record);
        let measured = record
            .get("step")
            .or_else(|| record.get("level"))
            .and_then(&point);
        let Some(p) = measured else { continue };
        match series.iter_mut().find(|(n, _)| *n == name) {
            Some((_, points)) => points.push(p),
            None => series.push((name, vec![p])),
        }
    }
    series
}

fn colour(name: &str) -> RGBColor {
    let second = name.ends_with("#2");
    match name.split(' ').next() {
        Some("ours") if second => RGBColor(120, 160, 240),
        Some("ours") => RGBColor(20, 60, 200),
        Some("node") if second => RGBColor(120, 200, 120),
        Some("node") => RGBColor(20, 130, 20),
        _ if second => RGBColor(150, 150, 150),
        _ => RGBColor(40, 40, 40),
    }
}

fn draw(
    path: &Path,
    panels: &[(String, Series)],
    x_desc: &str,
    y_desc: &str,
    x_log: bool,
    y_log: bool,
) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| Error::Setup(format!("{}: {e}", path.display()));
    let width = 520 * panels.len().max(1) as u32;
    let root = BitMapBackend::new(path, (width, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for ((title, series), area) in panels.iter().zip(areas.iter()) {
        let points = series.iter().flat_map(|(_, p)| p.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in points {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let pad_x = ((x1 - x0) * 0.05).max(0.1);
        let pad_y = ((y1 - y0) * 0.1).max(0.1);
        let y_floor = if y_log { y0 - pad_y } else { 0f64.min(y0) };
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d((x0 - pad_x)..(x1 + pad_x), y_floor..(y1 + pad_y))
            .map_err(|e| fail(&e))?;
        let fmt = |log: bool| {
            move |v: &f64| {
                if log {
                    human(10f64.powf(*v))
                } else {
                    human(*v)
                }
            }
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&fmt(x_log))
            .y_label_formatter(&fmt(y_log))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| fail(&e))?;
        for (name, points) in series {
            let c = colour(name);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
                .map_err(|e| fail(&e))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(|e| fail(&e))?;
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 12))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

fn human(v: f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{:.1}M", v / 1e6),
        a if a >= 1e4 => format!("{:.0}k", v / 1e3),
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 1.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}
