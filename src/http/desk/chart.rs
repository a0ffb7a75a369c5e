//! The Overview's chart of messages per week, drawn as server-side SVG:
//! per week one bar per channel, what went out solid and what is still due
//! lighter on top. No script; the page's stylesheet colours the classes.

use crate::app::overview::Week;
use serde::Serialize;

pub const CHANNELS: [&str; 3] = ["email", "sms", "call"];

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 10.0;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    /// `c-email sent`, `c-sms due`, …
    pub class: String,
    /// What a pointer over it shows: the week, channel and count.
    pub title: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tick {
    pub x: f64,
    pub y: f64,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub baseline: f64,
    pub bars: Vec<Bar>,
    /// Week labels under the bars.
    pub weeks: Vec<Tick>,
    /// Horizontal grid lines with their counts.
    pub grid: Vec<Tick>,
    /// Where the current week starts.
    pub now_x: f64,
}

/// A round step for about four grid lines up to `max`.
fn step(max: i64) -> i64 {
    let rough = (max.max(1) as f64 / 4.0).max(1.0);
    let magnitude = 10f64.powf(rough.log10().floor());
    let nice = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    nice as i64
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The chart of `weeks`, the week at `current` being this one.
pub fn weekly(weeks: &[Week], current: usize) -> Chart {
    let count = |w: &Week, c: &str, due: bool| -> i64 {
        let m = if due { &w.due } else { &w.sent };
        m.get(c).copied().unwrap_or(0)
    };
    let max = weeks
        .iter()
        .flat_map(|w| CHANNELS.map(|c| count(w, c, false) + count(w, c, true)))
        .max()
        .unwrap_or(0);
    let step = step(max);
    let top = ((max + step - 1) / step).max(1) * step;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let baseline = HEIGHT - BOTTOM;
    let scale = plot_h / top as f64;
    let slot = (WIDTH - LEFT - 8.0) / weeks.len().max(1) as f64;
    let bar_w = slot * 0.8 / CHANNELS.len() as f64;
    let mut bars = Vec::new();
    let mut labels = Vec::new();
    for (i, w) in weeks.iter().enumerate() {
        let x0 = LEFT + slot * i as f64 + slot * 0.1;
        for (j, c) in CHANNELS.iter().enumerate() {
            let x = round1(x0 + bar_w * j as f64);
            let sent = count(w, c, false);
            let due = count(w, c, true);
            let sent_h = sent as f64 * scale;
            let due_h = due as f64 * scale;
            if sent > 0 {
                bars.push(Bar {
                    x,
                    y: round1(baseline - sent_h),
                    w: round1(bar_w - 1.0),
                    h: round1(sent_h),
                    class: format!("c-{c} sent"),
                    title: format!("{} {c}: {sent} sent", w.start),
                });
            }
            if due > 0 {
                bars.push(Bar {
                    x,
                    y: round1(baseline - sent_h - due_h),
                    w: round1(bar_w - 1.0),
                    h: round1(due_h),
                    class: format!("c-{c} due"),
                    title: format!("{} {c}: {due} due", w.start),
                });
            }
        }
        if i % 2 == 0 || i == current {
            labels.push(Tick {
                x: round1(LEFT + slot * i as f64 + slot / 2.0),
                y: HEIGHT - 8.0,
                text: w.start.format("%d.%m").to_string(),
            });
        }
    }
    let grid = (0..=top / step)
        .map(|k| Tick {
            x: LEFT - 6.0,
            y: round1(baseline - (k * step) as f64 * scale),
            text: (k * step).to_string(),
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        right: WIDTH - 8.0,
        baseline,
        bars,
        weeks: labels,
        grid,
        now_x: round1(LEFT + slot * current as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn week(start: u32, sent: &[(&str, i64)], due: &[(&str, i64)]) -> Week {
        Week {
            start: NaiveDate::from_ymd_opt(2026, 11, start).unwrap(),
            sent: sent.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
            due: due.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(step(0), 1);
        assert_eq!(step(7), 2);
        assert_eq!(step(40), 10);
        assert_eq!(step(1234), 500);
    }

    #[test]
    fn bars_stand_on_the_baseline_in_proportion() {
        let weeks = [
            week(2, &[("email", 40)], &[]),
            week(9, &[("email", 10), ("sms", 20)], &[("email", 10)]),
        ];
        let c = weekly(&weeks, 1);
        // 40 at the top: the grid goes to 40 in steps of 10.
        assert_eq!(c.grid.last().map(|t| t.text.as_str()), Some("40"));
        let tall = &c.bars[0];
        assert_eq!(tall.class, "c-email sent");
        assert!((tall.y + tall.h - c.baseline).abs() < 0.2);
        assert!((tall.h - (c.baseline - TOP)).abs() < 0.2, "{tall:?}");
        // Due sits on top of sent, each a quarter of the tall one.
        let sent = c
            .bars
            .iter()
            .find(|b| b.title.ends_with("email: 10 sent"))
            .unwrap();
        let due = c.bars.iter().find(|b| b.class == "c-email due").unwrap();
        assert!((sent.h - tall.h / 4.0).abs() < 0.2);
        assert!((due.y + due.h - sent.y).abs() < 0.2);
        assert_eq!(c.bars.len(), 4);
        assert!(c.now_x > tall.x);
    }
}
