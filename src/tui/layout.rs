//! Where each pane goes for a terminal size. The views draw into these areas and the reducer
//! uses the same areas to find what a mouse click hit, so both always agree.
//!
//! Large terminals (at least 120×30) get a dashboard grid with every pane visible; smaller ones
//! show the focused pane full-size under a tab bar; below 40×10 only a "too small" message fits.

use ratatui::layout::{Constraint, Direction, Layout as RLayout, Position, Rect};

use super::state::Pane;

pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;
pub const GRID_WIDTH: u16 = 120;
pub const GRID_HEIGHT: u16 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    TooSmall,
    Tabs,
    Grid,
}

#[derive(Debug, Clone, Copy)]
pub struct Layout {
    area: Rect,
}

/// The computed areas for one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneAreas {
    pub mode: Mode,
    pub tab_bar: Rect,
    pub status: Rect,
    pub panes: Vec<(Pane, Rect)>,
    pub tabs: Vec<(Pane, Rect)>,
}

impl PaneAreas {
    pub fn rect(&self, pane: Pane) -> Option<Rect> {
        self.panes.iter().find(|(p, _)| *p == pane).map(|(_, r)| *r)
    }

    pub fn tab_at(&self, at: Position) -> Option<Pane> {
        self.tabs
            .iter()
            .find(|(_, r)| r.contains(at))
            .map(|(p, _)| *p)
    }
}

/// The text of a tab; the tab bar and the hit areas are built from it.
pub fn tab_label(pane: Pane) -> String {
    format!(" {} {} ", pane.number(), pane.title())
}

impl Layout {
    pub fn for_size((width, height): (u16, u16)) -> Self {
        Self {
            area: Rect::new(0, 0, width, height),
        }
    }

    pub fn mode(&self) -> Mode {
        if self.area.width < MIN_WIDTH || self.area.height < MIN_HEIGHT {
            Mode::TooSmall
        } else if self.area.width >= GRID_WIDTH && self.area.height >= GRID_HEIGHT {
            Mode::Grid
        } else {
            Mode::Tabs
        }
    }

    pub fn areas(&self, focus: Pane) -> PaneAreas {
        self.areas_zoomed(focus, false)
    }

    /// [`Layout::areas`]; `zoomed` gives the focused pane the whole body even on a terminal
    /// large enough for the grid (a saved trace opens that way).
    pub fn areas_zoomed(&self, focus: Pane, zoomed: bool) -> PaneAreas {
        let mode = match self.mode() {
            Mode::Grid if zoomed => Mode::Tabs,
            mode => mode,
        };
        if mode == Mode::TooSmall {
            return PaneAreas {
                mode,
                tab_bar: Rect::default(),
                status: Rect::default(),
                panes: Vec::new(),
                tabs: Vec::new(),
            };
        }
        let [tab_bar, body, status] = RLayout::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Length(1),
                Constraint::Min(1),
                Constraint::Length(1),
            ])
            .areas(self.area);
        let mut tabs = Vec::new();
        let mut x = tab_bar.x;
        for pane in Pane::ALL {
            let width = tab_label(pane).chars().count() as u16;
            let width = width.min(tab_bar.right().saturating_sub(x));
            tabs.push((pane, Rect::new(x, tab_bar.y, width, 1)));
            x = x.saturating_add(width);
        }
        let panes = match mode {
            Mode::Grid => {
                let [left, right] = RLayout::default()
                    .direction(Direction::Horizontal)
                    .constraints([Constraint::Percentage(40), Constraint::Percentage(60)])
                    .areas(body);
                let [servers, tools] = RLayout::default()
                    .direction(Direction::Vertical)
                    .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
                    .areas(left);
                let [chat, trace] = RLayout::default()
                    .direction(Direction::Vertical)
                    .constraints([Constraint::Percentage(70), Constraint::Percentage(30)])
                    .areas(right);
                vec![
                    (Pane::Chat, chat),
                    (Pane::Servers, servers),
                    (Pane::Tools, tools),
                    (Pane::Trace, trace),
                ]
            }
            Mode::Tabs | Mode::TooSmall => vec![(focus, body)],
        };
        PaneAreas {
            mode,
            tab_bar,
            status,
            panes,
            tabs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_terminals_use_tabs_and_tiny_ones_get_nothing() {
        assert_eq!(Layout::for_size((80, 24)).mode(), Mode::Tabs);
        assert_eq!(Layout::for_size((40, 12)).mode(), Mode::Tabs);
        assert_eq!(Layout::for_size((39, 24)).mode(), Mode::TooSmall);
        assert_eq!(Layout::for_size((80, 9)).mode(), Mode::TooSmall);
        assert_eq!(Layout::for_size((140, 45)).mode(), Mode::Grid);
    }

    #[test]
    fn tabs_mode_gives_the_focused_pane_the_body() {
        let areas = Layout::for_size((80, 24)).areas(Pane::Tools);
        assert_eq!(areas.panes, vec![(Pane::Tools, Rect::new(0, 1, 80, 22))]);
        assert_eq!(areas.status, Rect::new(0, 23, 80, 1));
        assert_eq!(areas.tab_at(Position::new(1, 0)), Some(Pane::Chat));
        assert_eq!(areas.tab_at(Position::new(10, 0)), Some(Pane::Servers));
    }

    #[test]
    fn a_zoomed_pane_gets_the_whole_body_of_a_large_terminal() {
        let areas = Layout::for_size((140, 45)).areas_zoomed(Pane::Trace, true);
        assert_eq!(areas.mode, Mode::Tabs);
        assert_eq!(areas.panes, vec![(Pane::Trace, Rect::new(0, 1, 140, 43))]);
    }

    #[test]
    fn grid_mode_tiles_all_panes_without_overlap() {
        let areas = Layout::for_size((140, 45)).areas(Pane::Chat);
        assert_eq!(areas.panes.len(), 4);
        for (i, (_, a)) in areas.panes.iter().enumerate() {
            for (_, b) in &areas.panes[i + 1..] {
                assert!(!a.intersects(*b), "{a:?} overlaps {b:?}");
            }
        }
        let total: u32 = areas
            .panes
            .iter()
            .map(|(_, r)| u32::from(r.width) * u32::from(r.height))
            .sum();
        assert_eq!(total, 140 * 43);
    }
}
