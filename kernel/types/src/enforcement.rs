//! Azure's enforcement modes.

/// What happens to protected traffic that cannot be encrypted (Azure's names).
/// The default fails closed: `DropUnencrypted`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Enforcement {
    /// Where encryption is not possible, traffic passes in the clear (and is logged so).
    AllowUnencrypted,
    /// Protected traffic never crosses the fabric in the clear.
    #[default]
    DropUnencrypted,
}

impl Enforcement {
    /// The console's keyword (`enforcement allow|drop`).
    pub fn keyword(self) -> &'static str {
        match self {
            Enforcement::AllowUnencrypted => "allow",
            Enforcement::DropUnencrypted => "drop",
        }
    }
}
