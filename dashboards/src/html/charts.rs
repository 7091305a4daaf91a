//! The dashboard's charts, drawn with `plotters` into inline SVG strings:
//! percentile distributions on a "nines" axis, log-scaled latency
//! histograms, CPU x CPU heat maps and throughput-vs-CPU-count lines.
//! Text is emitted as SVG `<text>` for the browser to render, so no font
//! files are needed.

use std::error::Error as StdError;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::Error;
use crate::hdr::{Bar, LatencyOverTime};
use crate::summary::format_value;

/// Colours for runs 1, 2, ... (cycled beyond eight).
pub(crate) const RUN_COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The colour of run `index` (0-based).
pub(crate) fn run_color(index: usize) -> RGBColor {
    RUN_COLORS[index % RUN_COLORS.len()]
}

const WIDE: (u32, u32) = (760, 340);
const FONT: &str = "sans-serif";

type DrawResult = Result<(), Box<dyn StdError>>;

/// One run's line or bars on a chart.
pub(crate) struct Series<T> {
    /// Legend text.
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// The data.
    pub data: T,
}

/// Draws into an SVG string and strips the `xmlns` attribute, which inline
/// SVG in HTML does not need (the page then names no URL at all).
fn render_svg(
    chart: &str,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> DrawResult,
) -> Result<String, Error> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(root).map_err(|error| Error::Chart {
            chart: chart.to_owned(),
            message: error.to_string(),
        })?;
    }
    Ok(svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1))
}

/// Formats a position on the nines axis as a percentile: 0 is `0%`, 1 is
/// `90%`, 2 is `99%`, 3 is `99.9%`.
pub(crate) fn nines_label(nines: f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-nines));
    let decimals = (nines.ceil() as usize).saturating_sub(2);
    format!("{percent:.decimals$}%")
}

/// Formats an axis value with a k/M/G suffix once it gets long.
pub(crate) fn compact(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e9 {
        format!("{:.1}G", value / 1e9)
    } else if magnitude >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else {
        format_value(value.round())
    }
}

/// The largest value an axis reaches. No measurement comes near it (1e15
/// cycles are days), but a corrupt record can hold up to 1.8e308, and
/// plotters' tick search does not finish on such ranges.
const AXIS_LIMIT: f64 = 1e15;

/// Largest value of `values`, or `floor` if bigger, capped at
/// [`AXIS_LIMIT`].
fn max_or(values: impl Iterator<Item = f64>, floor: f64) -> f64 {
    values
        .filter(|v| v.is_finite())
        .fold(floor, f64::max)
        .min(AXIS_LIMIT)
}

/// A point with its y value kept within the drawable range.
fn clamp_y((x, y): (f64, f64)) -> (f64, f64) {
    (x, y.clamp(-AXIS_LIMIT, AXIS_LIMIT))
}

/// Percentile distribution: value (log scale, as HdrHistogram's plotter
/// draws it, so one outlier does not flatten the body) against percentile
/// on a log "nines" axis, one line per run.
pub(crate) fn percentile_chart(
    title: &str,
    unit: &str,
    series: &[Series<Vec<(f64, f64)>>],
) -> Result<String, Error> {
    let points = || series.iter().flat_map(|s| s.data.iter());
    let x_max = max_or(points().map(|p| p.0), 3.0).ceil();
    let y_max = max_or(points().map(|p| p.1), 1.0) * 1.5;
    // The smallest positive value, a little below it; values at or below
    // zero (none in a latency histogram) are drawn at the axis' floor.
    let y_min = points()
        .map(|p| p.1)
        .filter(|y| y.is_finite() && *y > 0.0)
        .fold(f64::INFINITY, f64::min);
    // At most 12 decades: plotters' log axis steps through every decade.
    let y_min = if y_min.is_finite() {
        (y_min * 0.8).max(y_max * 1e-12)
    } else {
        0.5
    };
    let y_max = y_max.max(y_min * 2.0);
    let on_axis = move |(x, y): (f64, f64)| (x, y.clamp(y_min, y_max));
    render_svg(title, WIDE, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(10)
            .margin_right(30)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(
                0.0..x_max,
                (y_min..y_max).log_scale().with_key_points(log_ticks(
                    y_min,
                    y_max,
                    HISTOGRAM_TICKS,
                )),
            )?;
        // At most one label per whole nine, so labels land on 90%, 99%, ...
        let nine_count = x_max.min(20.0) as usize + 1;
        chart
            .configure_mesh()
            .x_labels(nine_count)
            .x_label_formatter(&|x| nines_label(*x))
            .y_label_formatter(&|y| format_value(*y))
            .x_desc("percentile")
            .y_desc(format!("{unit} (log scale)"))
            .draw()?;
        for line in series {
            let color = line.color;
            chart
                .draw_series(LineSeries::new(
                    line.data.iter().copied().map(on_axis),
                    color.stroke_width(2),
                ))?
                .label(line.label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color));
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
        Ok(())
    })
}

/// Value-axis labels of a histogram.
const HISTOGRAM_TICKS: usize = 7;

/// About `count` tick values spread evenly on a log axis from `low` to
/// `high` (both positive), each rounded to two significant digits (three
/// for a range narrower than 3x) and inside the range: a log axis's own
/// ticks sit on powers of ten, and a range within one decade (latency
/// bodies usually are) would get none.
pub(crate) fn log_ticks(low: f64, high: f64, count: usize) -> Vec<f64> {
    if !(low > 0.0 && high > low && high.is_finite()) || count < 2 {
        return Vec::new();
    }
    let ratio = (high / low).ln();
    // Three significant digits when the range is narrow, so that the
    // rounded ticks stay apart.
    let digits = if high / low >= 3.0 { 2.0 } else { 3.0 };
    let mut ticks: Vec<f64> = Vec::with_capacity(count);
    for index in 0..count {
        let exact = low * (ratio * index as f64 / (count - 1) as f64).exp();
        let magnitude = 10f64.powf(exact.log10().floor() - (digits - 1.0));
        let rounded = (exact / magnitude).round() * magnitude;
        // Rounding may carry an end tick out of the range: it is dropped.
        let inside = (low..=high).contains(&rounded);
        if inside && ticks.last().is_none_or(|last| rounded > *last) {
            ticks.push(rounded);
        }
    }
    ticks
}

/// Latency histogram: bar counts (log scale) over value (log scale, with
/// labels where the bars are), runs overlaid as translucent bars.
pub(crate) fn histogram_chart(
    title: &str,
    unit: &str,
    series: &[Series<Vec<Bar>>],
) -> Result<String, Error> {
    let bars = || series.iter().flat_map(|s| s.data.iter());
    let x_min = bars().map(|b| b.low).fold(f64::INFINITY, f64::min).max(1.0);
    let x_max = max_or(bars().map(|b| b.high), x_min * 2.0);
    let y_max = max_or(bars().map(|b| b.count as f64), 1.0) * 2.0;
    render_svg(title, WIDE, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (x_min..x_max).log_scale().with_key_points(log_ticks(
                    x_min,
                    x_max,
                    HISTOGRAM_TICKS,
                )),
                (0.5..y_max).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| format_value(x.round()))
            .y_label_formatter(&|y| format_value(y.round()))
            .x_desc(unit)
            .y_desc("samples")
            .draw()?;
        for run in series {
            let color = run.color;
            chart
                .draw_series(run.data.iter().filter(|bar| bar.count > 0).map(|bar| {
                    Rectangle::new(
                        [(bar.low, 0.5), (bar.high, bar.count as f64)],
                        color.mix(0.45).filled(),
                    )
                }))?
                .label(run.label.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
        Ok(())
    })
}

/// One cell of a CPU x CPU grid: `(from_cpu, to_cpu, value)`.
pub(crate) type HeatCell = (usize, usize, f64);

/// One CPU x CPU grid: `cells` are `(from_cpu, to_cpu, value)`; `scale` is
/// the `(low, high)` shared by all grids of the same benchmark family so
/// runs compare by colour.
pub(crate) fn heatmap_chart(
    title: &str,
    cpus: usize,
    cells: &[HeatCell],
    scale: (f64, f64),
) -> Result<String, Error> {
    let side = ((cpus as u32).clamp(2, 64) * 36 + 90).max(300);
    // Row 0 at the top: the y axis counts down from the last CPU.
    let row = |from: usize| cpus.saturating_sub(from + 1);
    let last = cpus.saturating_sub(1);
    render_svg(title, (side, side + 20), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(50)
            // Integer ranges are inclusive in plotters: 0..last is `cpus` cells.
            .build_cartesian_2d((0..last).into_segmented(), (0..last).into_segmented())?;
        let cpu_label = |segment: &SegmentValue<usize>, flip: bool| match segment {
            SegmentValue::CenterOf(index) | SegmentValue::Exact(index) => {
                format!(
                    "cpu{}",
                    if flip {
                        last.saturating_sub(*index)
                    } else {
                        *index
                    }
                )
            }
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(cpus)
            .y_labels(cpus)
            .x_label_formatter(&|segment| cpu_label(segment, false))
            .y_label_formatter(&|segment| cpu_label(segment, true))
            .x_desc("to CPU")
            .y_desc("from CPU")
            .draw()?;
        let (low, high) = scale;
        let span = if high > low { high - low } else { 1.0 };
        for &(from, to, value) in cells {
            let heat = ((value - low) / span).clamp(0.0, 1.0);
            let (x, y) = (to, row(from));
            chart.draw_series([Rectangle::new(
                [
                    (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                ],
                heat_color(heat).filled(),
            )])?;
            let ink = if heat > 0.6 { WHITE } else { BLACK };
            chart.draw_series([Text::new(
                format_value(value.round()),
                (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                (FONT, 11)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )])?;
        }
        root.present()?;
        Ok(())
    })
}

/// Latency over time: one column per histogram interval (x: intervals in
/// order, the axis title says when they ran), one row per latency bucket (y,
/// log scale), coloured by the interval's samples in that bucket (log
/// scale, pale to dark). Returns the SVG and the number of cells drawn.
pub(crate) fn latency_over_time_chart(
    title: &str,
    unit: &str,
    map: &LatencyOverTime,
) -> Result<(String, usize), Error> {
    let columns = map.columns.len().max(1);
    let rows = map.rows.len().max(1);
    let width = (columns as u32 * 18 + 140).clamp(420, 1000);
    let height = (rows as u32 * 12 + 110).clamp(260, 700);
    let top = (map.max_count().max(2) as f64).ln();
    // Interval starts have millisecond resolution (the interval log's):
    // the axis counts intervals and says when they ran.
    let first = map.columns.first().map_or(0.0, |c| c.0);
    let last = map.columns.last().map_or(0.0, |c| c.0 + c.1);
    let span_text = format!(
        "interval ({} from {first:.3} s to {last:.3} s after boot)",
        map.columns.len()
    );
    let mut drawn = 0;
    let svg = render_svg(title, (width, height), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(10)
            .margin_right(20)
            .x_label_area_size(36)
            .y_label_area_size(64)
            // Integer ranges are inclusive in plotters: 0..last is `n` cells.
            .build_cartesian_2d(
                (0..columns - 1).into_segmented(),
                (0..rows - 1).into_segmented(),
            )?;
        let label =
            |segment: &SegmentValue<usize>, text: &dyn Fn(usize) -> Option<String>| match segment {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => text(*i).unwrap_or_default(),
                SegmentValue::Last => String::new(),
            };
        let column_label = |i: usize| (i < map.columns.len()).then(|| (i + 1).to_string());
        let row_label = |i: usize| map.rows.get(i).map(|(low, _)| compact(*low));
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(columns.min(10))
            .y_labels(rows.min(12))
            .x_label_formatter(&|s| label(s, &column_label))
            .y_label_formatter(&|s| label(s, &row_label))
            .x_desc(span_text)
            .y_desc(format!("{unit} (log buckets)"))
            .draw()?;
        for (column, counts) in map.counts.iter().enumerate() {
            for (row, &count) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
                // One sample is light, the fullest cell is darkest; the
                // palest colour is kept for nothing (an empty cell is white).
                let heat = 0.25 + 0.75 * ((count as f64).ln() / top).clamp(0.0, 1.0);
                chart.draw_series([Rectangle::new(
                    [
                        (SegmentValue::Exact(column), SegmentValue::Exact(row)),
                        (
                            SegmentValue::Exact(column + 1),
                            SegmentValue::Exact(row + 1),
                        ),
                    ],
                    heat_color(heat).filled(),
                )])?;
                drawn += 1;
            }
        }
        root.present()?;
        Ok(())
    })?;
    Ok((svg, drawn))
}

/// Pale yellow (0) to dark red (1).
fn heat_color(heat: f64) -> RGBColor {
    let mix = |from: f64, to: f64| (from + (to - from) * heat).round() as u8;
    RGBColor(mix(255.0, 140.0), mix(245.0, 10.0), mix(200.0, 20.0))
}

/// Throughput (or latency) against CPU count, one line per run.
pub(crate) fn scaling_chart(
    title: &str,
    unit: &str,
    series: &[Series<Vec<(f64, f64)>>],
) -> Result<String, Error> {
    let points = || series.iter().flat_map(|s| s.data.iter());
    let x_max = max_or(points().map(|p| p.0), 1.0) + 1.0;
    let y_max = max_or(points().map(|p| p.1), 1.0) * 1.1;
    render_svg(title, WIDE, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        // No more labels than whole CPU counts, so ticks land on integers.
        let cpu_ticks = x_max.min(64.0) as usize + 1;
        chart
            .configure_mesh()
            .x_labels(cpu_ticks)
            .x_label_formatter(&|x| format_value(*x))
            .y_label_formatter(&|y| compact(*y))
            .x_desc("CPUs")
            .y_desc(unit)
            .draw()?;
        for line in series {
            let color = line.color;
            chart
                .draw_series(LineSeries::new(
                    line.data.iter().copied().map(clamp_y),
                    color.stroke_width(2),
                ))?
                .label(line.label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color));
            chart.draw_series(
                line.data
                    .iter()
                    .map(|&point| Circle::new(clamp_y(point), 4, color.filled())),
            )?;
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_land_inside_narrow_and_wide_ranges() {
        let narrow = log_ticks(170.0, 190.0, 7);
        assert!(narrow.len() >= 5, "{narrow:?}");
        assert!(
            narrow.iter().all(|t| (170.0..=190.0).contains(t)),
            "{narrow:?}"
        );
        assert!(narrow.windows(2).all(|w| w[0] < w[1]), "{narrow:?}");
        assert_eq!(
            log_ticks(1.0, 1e6, 7),
            [1.0, 10.0, 100.0, 1000.0, 10000.0, 100_000.0, 1e6]
        );
        assert!(log_ticks(0.0, 10.0, 7).is_empty());
        assert!(log_ticks(5.0, 5.0, 7).is_empty());
        assert!(log_ticks(1.0, f64::INFINITY, 7).is_empty());
    }

    #[test]
    fn nines_labels_read_as_percentiles() {
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(5.0), "99.999%");
    }

    #[test]
    fn compact_axis_values() {
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(25_000.0), "25k");
        assert_eq!(compact(1_900_000.0), "1.9M");
        assert_eq!(compact(3.2e9), "3.2G");
    }

    #[test]
    fn charts_are_inline_svg_without_urls() {
        let line = Series {
            label: "run".to_owned(),
            color: run_color(0),
            data: vec![(0.0, 10.0), (1.0, 12.0), (2.0, 30.0)],
        };
        let svg = percentile_chart("p", "cycles", &[line]).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<polyline") || svg.contains("<path"));
        assert!(!svg.contains("http"));
    }

    #[test]
    fn heat_map_marks_every_cell() {
        let cells = [(0, 1, 10.0), (1, 0, 30.0)];
        let svg = heatmap_chart("h", 2, &cells, (10.0, 30.0)).unwrap();
        assert!(svg.contains(">\n10\n<") && svg.contains(">\n30\n<"));
        assert!(svg.contains("cpu0") && svg.contains("cpu1"));
    }

    #[test]
    fn latency_over_time_draws_one_rectangle_per_filled_cell() {
        let map = LatencyOverTime {
            columns: vec![(0.0, 0.5), (0.5, 0.5), (1.0, 0.5)],
            rows: vec![(64.0, 128.0), (128.0, 256.0)],
            counts: vec![vec![5, 0], vec![0, 1], vec![2, 2]],
        };
        let (svg, drawn) = latency_over_time_chart("t", "cycles", &map).unwrap();
        assert_eq!(drawn, 4);
        assert!(svg.contains("interval (3 from 0.000 s to 1.500 s after boot)"));
        assert!(svg.contains(">\n64\n<"), "{svg}");
        assert!(svg.contains("cycles (log buckets)"));
        // The frame's rectangles plus one per filled cell.
        let empty = LatencyOverTime {
            counts: vec![vec![0, 0]; 3],
            ..map.clone()
        };
        let (frame, none) = latency_over_time_chart("t", "cycles", &empty).unwrap();
        assert_eq!(none, 0);
        assert_eq!(
            svg.matches("<rect").count(),
            frame.matches("<rect").count() + 4
        );
    }
}
