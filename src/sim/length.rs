//! The distribution of "natural" output lengths (where the fake model would stop on EOS).

use std::{fmt, str::FromStr};

use crate::rng::Rng;

/// How many tokens a response runs to before its natural stop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LengthDist {
    /// Always `n`.
    Fixed(u64),
    /// Uniform in `mean·(1 ± pct/100)`.
    Uniform {
        /// Mean tokens.
        mean: f64,
        /// Spread in percent of the mean.
        pct: f64,
    },
    /// Normal with the given mean and standard deviation, at least 1.
    Normal {
        /// Mean tokens.
        mean: f64,
        /// Standard deviation in tokens.
        sd: f64,
    },
}

impl LengthDist {
    /// One draw, at least 1 token.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let x = match *self {
            LengthDist::Fixed(n) => return n.max(1),
            LengthDist::Uniform { mean, pct } => mean * (1.0 + rng.signed_unit() * pct / 100.0),
            LengthDist::Normal { mean, sd } => mean + sd * rng.normal(),
        };
        x.round().max(1.0) as u64
    }
}

impl FromStr for LengthDist {
    type Err = String;

    /// `N` (fixed), `MEAN:PCT` (uniform ±PCT %) or `normal:MEAN:SD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid length distribution {s:?}: expected N, MEAN:PCT or normal:MEAN:SD");
        let num = |x: &str| x.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(bad);
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            [n] => Ok(LengthDist::Fixed(n.trim().parse().map_err(|_| bad())?)),
            ["normal", mean, sd] => Ok(LengthDist::Normal { mean: num(mean)?, sd: num(sd)? }),
            [mean, pct] => {
                let pct = num(pct)?;
                if pct > 100.0 {
                    return Err(bad());
                }
                Ok(LengthDist::Uniform { mean: num(mean)?, pct })
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for LengthDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LengthDist::Fixed(n) => write!(f, "{n}"),
            LengthDist::Uniform { mean, pct } => write!(f, "{mean}:{pct}"),
            LengthDist::Normal { mean, sd } => write!(f, "normal:{mean}:{sd}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_samples() {
        let mut rng = Rng::new(1);
        assert_eq!("64".parse::<LengthDist>().unwrap().sample(&mut rng), 64);
        let u: LengthDist = "100:50".parse().unwrap();
        for _ in 0..1000 {
            assert!((50..=150).contains(&u.sample(&mut rng)));
        }
        let n: LengthDist = "normal:10:100".parse().unwrap();
        assert!((0..1000).all(|_| n.sample(&mut rng) >= 1));
        assert!("1:2:3".parse::<LengthDist>().is_err());
        assert!("10:200".parse::<LengthDist>().is_err());
    }
}
