//! `[pricing."MODEL"]`: what a model's tokens cost, so a run can say what it spent.
//! Prices only change a figure conch prints, so an untrusted project's file may set them.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Prices of one model in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    /// Prompt tokens the provider served from its cache (default: the input price).
    pub cached_input_per_mtok: Option<f64>,
}

impl Pricing {
    /// What `prompt_tokens` in (of which `cached` from the provider's cache) and
    /// `completion_tokens` out cost, in US dollars.
    pub fn cost(&self, prompt_tokens: u64, cached: u64, completion_tokens: u64) -> f64 {
        let cached = cached.min(prompt_tokens);
        let fresh = prompt_tokens - cached;
        let cached_price = self.cached_input_per_mtok.unwrap_or(self.input_per_mtok);
        (fresh as f64 * self.input_per_mtok
            + cached as f64 * cached_price
            + completion_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }

    /// The first price that is negative or not a number, by key, with why.
    fn invalid(&self) -> Option<(&'static str, f64)> {
        [
            ("input_per_mtok", Some(self.input_per_mtok)),
            ("output_per_mtok", Some(self.output_per_mtok)),
            ("cached_input_per_mtok", self.cached_input_per_mtok),
        ]
        .into_iter()
        .find_map(|(key, price)| {
            price
                .filter(|p| !p.is_finite() || *p < 0.0)
                .map(|p| (key, p))
        })
    }
}

/// Checks every table: a price must be a finite number of dollars, zero or more.
/// Returns the dotted key and the message for the first one that is not.
pub fn validate(tables: &BTreeMap<String, Pricing>) -> Result<(), (String, String)> {
    for (model, pricing) in tables {
        if let Some((key, price)) = pricing.invalid() {
            return Err((
                format!("pricing.\"{model}\".{key}"),
                format!("{price} is no price; give US dollars per million tokens, 0 or more"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_tokens_cost_the_cached_price_and_fall_back_to_the_input_price() {
        let pricing = Pricing {
            input_per_mtok: 2.0,
            output_per_mtok: 8.0,
            cached_input_per_mtok: Some(0.5),
        };
        // 600k fresh × 2 + 400k cached × 0.5 + 100k out × 8 = 1.2 + 0.2 + 0.8
        let cost = pricing.cost(1_000_000, 400_000, 100_000);
        assert!((cost - 2.2).abs() < 1e-9, "{cost}");
        let no_cache_price = Pricing {
            cached_input_per_mtok: None,
            ..pricing
        };
        let cost = no_cache_price.cost(1_000_000, 400_000, 0);
        assert!((cost - 2.0).abs() < 1e-9, "{cost}");
    }

    #[test]
    fn a_negative_price_is_refused_with_its_key() {
        let mut tables = BTreeMap::new();
        tables.insert(
            "m".to_string(),
            Pricing {
                input_per_mtok: 1.0,
                output_per_mtok: -3.0,
                cached_input_per_mtok: None,
            },
        );
        let (key, message) = validate(&tables).unwrap_err();
        assert_eq!(key, "pricing.\"m\".output_per_mtok");
        assert!(message.contains("-3"), "{message}");
    }
}
