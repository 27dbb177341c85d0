//! Error types: one small enum per layer, each handshake error mapped to the alert we send.

use crate::codec::DecodeError;

/// TLS alert descriptions (RFC 5246 §7.2, RFC 5746, RFC 7627).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AlertDescription {
    CloseNotify,
    UnexpectedMessage,
    BadRecordMac,
    RecordOverflow,
    HandshakeFailure,
    BadCertificate,
    UnsupportedCertificate,
    CertificateUnknown,
    IllegalParameter,
    AccessDenied,
    DecodeError,
    DecryptError,
    ProtocolVersion,
    InsufficientSecurity,
    InternalError,
    UserCanceled,
    NoRenegotiation,
    UnsupportedExtension,
    /// Any other code.
    Other(u8),
}

impl AlertDescription {
    /// The wire code.
    pub fn code(self) -> u8 {
        use AlertDescription::*;
        match self {
            CloseNotify => 0,
            UnexpectedMessage => 10,
            BadRecordMac => 20,
            RecordOverflow => 22,
            HandshakeFailure => 40,
            BadCertificate => 42,
            UnsupportedCertificate => 43,
            CertificateUnknown => 46,
            IllegalParameter => 47,
            AccessDenied => 49,
            DecodeError => 50,
            DecryptError => 51,
            ProtocolVersion => 70,
            InsufficientSecurity => 71,
            InternalError => 80,
            UserCanceled => 90,
            NoRenegotiation => 100,
            UnsupportedExtension => 110,
            Other(c) => c,
        }
    }

    /// The description for a wire code.
    pub fn from_code(code: u8) -> Self {
        use AlertDescription::*;
        match code {
            0 => CloseNotify,
            10 => UnexpectedMessage,
            20 => BadRecordMac,
            22 => RecordOverflow,
            40 => HandshakeFailure,
            42 => BadCertificate,
            43 => UnsupportedCertificate,
            46 => CertificateUnknown,
            47 => IllegalParameter,
            49 => AccessDenied,
            50 => DecodeError,
            51 => DecryptError,
            70 => ProtocolVersion,
            71 => InsufficientSecurity,
            80 => InternalError,
            90 => UserCanceled,
            100 => NoRenegotiation,
            110 => UnsupportedExtension,
            c => Other(c),
        }
    }
}

/// Why a connection failed for good, as [`crate::Connection::failure`] reports it: the
/// categories an operator needs to tell a wrong fingerprint from a dead peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The handshake did not complete within its own time, and nothing at all was
    /// received from the peer during it.
    NoResponse,
    /// The handshake did not complete within its own time although the peer answered.
    Timeout,
    /// The peer's key did not match the pinned fingerprint (or its signature over the
    /// handshake did not verify).
    PinMismatch,
    /// The peer sent an authenticated fatal alert (only possible once keys exist).
    AlertFromPeer(AlertDescription),
    /// Another authenticated protocol failure (e.g. Finished did not verify).
    Protocol,
}

/// Why a handshake or connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A message did not parse.
    Decode,
    /// A message arrived that the current state does not expect.
    UnexpectedMessage,
    /// No cipher suite, group or signature algorithm in common.
    NoCommonParameters,
    /// The peer's public key does not match any pinned fingerprint.
    PeerKeyMismatch,
    /// The peer's certificate could not be parsed or holds no P-256 key.
    BadCertificate,
    /// The peer required a certificate we do not have, or sent none when we require one.
    CertificateRequired,
    /// A signature (ServerKeyExchange, CertificateVerify) did not verify.
    BadSignature,
    /// The peer's Finished did not match the transcript.
    BadFinished,
    /// The peer did not negotiate the extended master secret (RFC 7627) while we require it.
    MissingExtendedMasterSecret,
    /// The peer's renegotiation_info was not empty (RFC 5746).
    BadRenegotiationInfo,
    /// A parameter (version, point, curve) was invalid.
    IllegalParameter,
    /// The peer sent a fatal alert.
    PeerAlert(AlertDescription),
    /// Retransmissions ran out before the handshake completed.
    HandshakeTimeout,
    /// The write sequence number reached its hard limit: a new handshake is needed.
    SequenceExhausted,
    /// Too many records failed authentication under one key.
    TooManyDecryptFailures,
    /// The connection is closed.
    Closed,
    /// Keys are not yet established.
    NotConnected,
    /// A buffer was too small for the record.
    BufferTooSmall,
    /// Cryptographic failure that should not happen (bad key length, RNG failure).
    Internal,
}

impl Error {
    /// The fatal alert this error is reported to the peer with.
    pub fn alert(self) -> AlertDescription {
        use AlertDescription as A;
        match self {
            Error::Decode => A::DecodeError,
            Error::UnexpectedMessage => A::UnexpectedMessage,
            Error::NoCommonParameters => A::HandshakeFailure,
            Error::PeerKeyMismatch => A::AccessDenied,
            Error::BadCertificate => A::BadCertificate,
            Error::CertificateRequired => A::HandshakeFailure,
            Error::BadSignature => A::DecryptError,
            Error::BadFinished => A::DecryptError,
            Error::MissingExtendedMasterSecret => A::HandshakeFailure,
            Error::BadRenegotiationInfo => A::HandshakeFailure,
            Error::IllegalParameter => A::IllegalParameter,
            Error::PeerAlert(_) | Error::Closed => A::CloseNotify,
            Error::HandshakeTimeout => A::HandshakeFailure,
            Error::SequenceExhausted => A::CloseNotify,
            Error::TooManyDecryptFailures => A::BadRecordMac,
            Error::NotConnected | Error::BufferTooSmall | Error::Internal => A::InternalError,
        }
    }
}

impl From<DecodeError> for Error {
    fn from(_: DecodeError) -> Self {
        Error::Decode
    }
}

/// Why the record layer refused a record (data plane). Each is counted; none is fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The header or length did not parse.
    Malformed,
    /// Not an application_data record: hand the datagram to the connection instead.
    NotApplicationData,
    /// The record belongs to another epoch than the current one.
    WrongEpoch,
    /// The sequence number was already seen or is left of the replay window.
    Replayed,
    /// The tag did not verify.
    BadTag,
    /// The buffer has no room for header, nonce or tag.
    BufferTooSmall,
    /// The send sequence number reached its hard limit; the record was not sealed.
    SequenceExhausted,
    /// No keys are established yet.
    NotConnected,
}
