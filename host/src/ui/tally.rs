//! Sums what the provider reported over a turn and a session, keeps the text of the
//! turn's last answer, and puts both (and their cost, when the model has a price) into
//! the turn's `done` event before passing it on.

use crate::agent::{AgentEvent, EventSink, TokenTotals, TurnSummary};
use crate::config::Pricing;

/// An [`EventSink`] in front of another that completes each `done` event.
#[derive(Debug)]
pub struct Tally<S> {
    pub inner: S,
    pricing: Option<Pricing>,
    turn: TokenTotals,
    turn_cost: f64,
    session: TokenTotals,
    /// `None` once a turn ran without a price: a sum of some turns is no session cost.
    session_cost: Option<f64>,
    /// The text of the answer being streamed (cleared when a new request starts).
    answer: String,
    /// The summary of the last turn that ended.
    last: Option<TurnSummary>,
}

impl<S: EventSink> Tally<S> {
    /// Counts from zero, pricing tokens at `pricing` (none: no cost figure).
    pub fn new(inner: S, pricing: Option<Pricing>) -> Self {
        Tally {
            inner,
            pricing,
            turn: TokenTotals::default(),
            turn_cost: 0.0,
            session: TokenTotals::default(),
            session_cost: Some(0.0),
            answer: String::new(),
            last: None,
        }
    }

    /// What the last turn that ended came to.
    pub fn last(&self) -> Option<&TurnSummary> {
        self.last.as_ref()
    }

    /// Prices the tokens from now on at `pricing` (after a switch of model).
    pub fn set_pricing(&mut self, pricing: Option<Pricing>) {
        self.pricing = pricing;
    }

    /// The tokens of every turn so far.
    pub fn session(&self) -> TokenTotals {
        self.session
    }

    /// What every turn so far cost, if each had a price (and the model now has one).
    pub fn session_cost(&self) -> Option<f64> {
        self.session_cost.filter(|_| self.pricing.is_some())
    }

    /// Counts a new session from zero (the repl's `/new`).
    pub fn reset_session(&mut self) {
        self.session = TokenTotals::default();
        self.session_cost = Some(0.0);
    }
}

impl<S: EventSink> EventSink for Tally<S> {
    fn emit(&mut self, event: &AgentEvent) {
        match event {
            AgentEvent::Request { .. } | AgentEvent::Retry { .. } => self.answer.clear(),
            AgentEvent::TextDelta { text } => self.answer.push_str(text),
            AgentEvent::Usage {
                prompt_tokens,
                completion_tokens,
                cached_prompt_tokens,
            } => {
                let usage = crate::message::Usage {
                    prompt_tokens: *prompt_tokens,
                    completion_tokens: *completion_tokens,
                    cached_prompt_tokens: *cached_prompt_tokens,
                };
                self.turn.add(usage);
                self.session.add(usage);
                match &self.pricing {
                    Some(pricing) => {
                        let cost =
                            pricing.cost(*prompt_tokens, *cached_prompt_tokens, *completion_tokens);
                        self.turn_cost += cost;
                        self.session_cost = self.session_cost.map(|c| c + cost);
                    }
                    None => self.session_cost = None,
                }
            }
            AgentEvent::Done {
                reason,
                steps,
                summary: None,
            } => {
                let summary = TurnSummary {
                    text: std::mem::take(&mut self.answer),
                    usage: std::mem::take(&mut self.turn),
                    session_usage: self.session,
                    cost_usd: self.pricing.map(|_| std::mem::take(&mut self.turn_cost)),
                    session_cost_usd: self.session_cost.filter(|_| self.pricing.is_some()),
                };
                self.turn_cost = 0.0;
                self.last = Some(summary.clone());
                self.inner.emit(&AgentEvent::Done {
                    reason: reason.clone(),
                    steps: *steps,
                    summary: Some(summary),
                });
                return;
            }
            _ => {}
        }
        self.inner.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done() -> AgentEvent {
        AgentEvent::Done {
            reason: "answered".into(),
            steps: 2,
            summary: None,
        }
    }

    fn usage(prompt_tokens: u64, completion_tokens: u64) -> AgentEvent {
        AgentEvent::Usage {
            prompt_tokens,
            completion_tokens,
            cached_prompt_tokens: 0,
        }
    }

    fn summary(events: &[AgentEvent]) -> TurnSummary {
        match events.last() {
            Some(AgentEvent::Done {
                summary: Some(summary),
                ..
            }) => summary.clone(),
            other => panic!("no summary: {other:?}"),
        }
    }

    #[test]
    fn the_summary_has_the_last_answer_and_turn_and_session_totals() {
        let pricing = Pricing {
            input_per_mtok: 1.0,
            output_per_mtok: 10.0,
            cached_input_per_mtok: None,
        };
        let mut tally = Tally::new(Vec::new(), Some(pricing));
        for event in [
            AgentEvent::Request { step: 1 },
            AgentEvent::TextDelta {
                text: "let me look".into(),
            },
            usage(1000, 10),
            AgentEvent::Request { step: 2 },
            AgentEvent::TextDelta {
                text: "it is ".into(),
            },
            AgentEvent::TextDelta { text: "42".into() },
            usage(2000, 20),
            done(),
        ] {
            tally.emit(&event);
        }
        let first = summary(&tally.inner);
        assert_eq!(first.text, "it is 42");
        assert_eq!(first.usage.requests, 2);
        assert_eq!(first.usage.prompt_tokens, 3000);
        assert_eq!(first.usage.completion_tokens, 30);
        assert!((first.cost_usd.unwrap() - 0.0033).abs() < 1e-12);
        for event in [AgentEvent::Request { step: 1 }, usage(500, 5), done()] {
            tally.emit(&event);
        }
        let second = summary(&tally.inner);
        assert_eq!(second.text, "");
        assert_eq!(second.usage.prompt_tokens, 500);
        assert_eq!(second.session_usage.prompt_tokens, 3500);
        assert_eq!(second.session_usage.requests, 3);
        assert!((second.session_cost_usd.unwrap() - 0.00385).abs() < 1e-12);
    }

    #[test]
    fn without_a_price_there_is_no_cost_and_a_later_price_makes_no_session_cost() {
        let mut tally = Tally::new(Vec::new(), None);
        for event in [usage(100, 1), done()] {
            tally.emit(&event);
        }
        assert_eq!(summary(&tally.inner).cost_usd, None);
        tally.set_pricing(Some(Pricing {
            input_per_mtok: 1.0,
            output_per_mtok: 1.0,
            cached_input_per_mtok: None,
        }));
        for event in [usage(100, 1), done()] {
            tally.emit(&event);
        }
        let later = summary(&tally.inner);
        assert!(later.cost_usd.is_some());
        assert_eq!(later.session_cost_usd, None);
        tally.reset_session();
        assert_eq!(tally.session_cost(), Some(0.0));
        tally.set_pricing(None);
        assert_eq!(tally.session_cost(), None);
    }

    #[test]
    fn a_retried_answer_is_kept_once() {
        let mut tally = Tally::new(Vec::new(), None);
        for event in [
            AgentEvent::Request { step: 1 },
            AgentEvent::TextDelta {
                text: "half an".into(),
            },
            AgentEvent::Retry {
                attempt: 1,
                of: 2,
                delay_ms: 0,
                error: "cut".into(),
            },
            AgentEvent::TextDelta {
                text: "whole answer".into(),
            },
            done(),
        ] {
            tally.emit(&event);
        }
        assert_eq!(summary(&tally.inner).text, "whole answer");
    }
}
