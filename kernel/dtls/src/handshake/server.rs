//! Server states: flights 2, 4 and 6 of RFC 6347 §4.2.4.

use super::common::{self, Negotiated};
use super::fragment::Message;
use super::msgs::*;
use super::{Action, Ctx, FlightItem};
use crate::config::ClientAuth;
use crate::cookie::CookieKey;
use crate::crypto::keys::MasterSecret;
use crate::crypto::CipherSuite;
use crate::error::Error;
use crate::identity::PeerKey;
use crate::record::{DTLS_1_0, DTLS_1_2};
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use rand_core::RngCore;

/// The server's handshake state.
#[derive(Clone, Debug)]
pub enum ServerState {
    ExpectClientHello(ExpectClientHello),
    ExpectCertificate(ExpectCertificate),
    ExpectClientKeyExchange(ExpectClientKeyExchange),
    ExpectCertificateVerify(ExpectCertificateVerify),
    ExpectFinished(ExpectFinished),
}

/// Randoms and parameters agreed in the hellos.
#[derive(Clone, Debug)]
pub struct Hello {
    pub client_random: [u8; 32],
    pub server_random: [u8; 32],
    pub suite: CipherSuite,
    pub ems: bool,
}

impl ServerState {
    /// Handles one complete message from the client.
    pub fn handle(self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ServerState, Error> {
        let expect_epoch = if matches!(self, ServerState::ExpectFinished(_)) {
            1
        } else {
            0
        };
        if m.epoch != expect_epoch {
            return Err(Error::UnexpectedMessage);
        }
        match self {
            ServerState::ExpectClientHello(s) => s.handle(ctx, m),
            ServerState::ExpectCertificate(s) => s.handle(ctx, m),
            ServerState::ExpectClientKeyExchange(s) => s.handle(ctx, m),
            ServerState::ExpectCertificateVerify(s) => s.handle(ctx, m),
            ServerState::ExpectFinished(s) => s.handle(ctx, m),
        }
    }
}

/// Waiting for a ClientHello with a valid cookie.
#[derive(Clone, Debug)]
pub struct ExpectClientHello {
    pub cookie_key: CookieKey,
    pub peer_addr: Vec<u8>,
}

/// The HelloVerifyRequest answering `hello` (sent statelessly).
pub fn hello_verify_request(
    key: &CookieKey,
    peer_addr: &[u8],
    hello: &ClientHello,
    message_seq: u16,
) -> Message {
    Message {
        epoch: 0,
        msg_type: msg_type::HELLO_VERIFY_REQUEST,
        message_seq,
        body: HelloVerifyRequest {
            server_version: DTLS_1_0,
            cookie: key.cookie(peer_addr, hello).to_vec(),
        }
        .encode(),
    }
}

impl ExpectClientHello {
    fn handle(self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ServerState, Error> {
        if m.msg_type != msg_type::CLIENT_HELLO {
            return Err(Error::UnexpectedMessage);
        }
        let ch = ClientHello::parse(&m.body)?;
        if !self.cookie_key.verify(&self.peer_addr, &ch) {
            ctx.actions.push(Action::Stateless(hello_verify_request(
                &self.cookie_key,
                &self.peer_addr,
                &ch,
                m.message_seq,
            )));
            return Ok(ServerState::ExpectClientHello(self));
        }
        // DTLS versions count down: 0xFEFD (1.2) is below 0xFEFF (1.0).
        if ch.client_version > DTLS_1_2 || ch.client_version >> 8 != 0xFE {
            return Err(Error::IllegalParameter);
        }
        let suite = ctx
            .config
            .suites
            .iter()
            .copied()
            .find(|s| ch.cipher_suites.contains(&s.code()))
            .ok_or(Error::NoCommonParameters)?;
        if !ch.compression_methods.contains(&0) {
            return Err(Error::IllegalParameter);
        }
        if let Some(groups) = ch.extensions.get(ext::SUPPORTED_GROUPS) {
            if !parse_u16_list(groups)?.contains(&GROUP_SECP256R1) {
                return Err(Error::NoCommonParameters);
            }
        }
        if let Some(algs) = ch.extensions.get(ext::SIGNATURE_ALGORITHMS) {
            if !parse_u16_list(algs)?.contains(&SIG_ECDSA_SHA256) {
                return Err(Error::NoCommonParameters);
            }
        }
        let ems = ch.extensions.get(ext::EXTENDED_MASTER_SECRET).is_some();
        if !ems && ctx.config.require_extended_master_secret {
            return Err(Error::MissingExtendedMasterSecret);
        }
        let ri = ch.extensions.get(ext::RENEGOTIATION_INFO);
        if ri.is_some_and(|d| d != [0]) {
            return Err(Error::BadRenegotiationInfo);
        }
        let secure_reneg = ri.is_some() || ch.cipher_suites.contains(&RENEGOTIATION_SCSV);

        // The transcript starts with the ClientHello that carried the cookie; our messages
        // continue the client's message_seq (RFC 6347 §4.2.2).
        ctx.transcript.clear();
        ctx.absorb(m);
        *ctx.next_send_seq = m.message_seq;

        let mut server_random = [0u8; 32];
        ctx.rng.fill_bytes(&mut server_random);
        let mut extensions = Extensions::default();
        if secure_reneg {
            extensions.push(ext::RENEGOTIATION_INFO, vec![0]);
        }
        if ems {
            extensions.push(ext::EXTENDED_MASTER_SECRET, vec![]);
        }
        if ch.extensions.get(ext::EC_POINT_FORMATS).is_some() {
            extensions.push(ext::EC_POINT_FORMATS, vec![1, 0]);
        }
        let sh = ServerHello {
            server_version: DTLS_1_2,
            random: server_random,
            session_id: vec![],
            cipher_suite: suite.code(),
            compression_method: 0,
            extensions,
        };
        let mut items = vec![ctx.message(msg_type::SERVER_HELLO, sh.encode(), 0)];
        let cert = common::our_certificate(ctx.config);
        items.push(ctx.message(msg_type::CERTIFICATE, cert.encode(), 0));

        let (secret, public) = common::ephemeral(ctx.rng);
        let params = ServerKeyExchange::params(GROUP_SECP256R1, &public);
        let mut signed = Vec::with_capacity(64 + params.len());
        signed.extend_from_slice(&ch.random);
        signed.extend_from_slice(&server_random);
        signed.extend_from_slice(&params);
        let ske = ServerKeyExchange {
            named_group: GROUP_SECP256R1,
            public,
            signed: common::sign(ctx.config.identity.signing_key(), &signed),
        };
        items.push(ctx.message(msg_type::SERVER_KEY_EXCHANGE, ske.encode(), 0));
        let request = ctx.config.client_auth != ClientAuth::None;
        if request {
            let cr = CertificateRequest {
                certificate_types: vec![CERT_TYPE_ECDSA_SIGN],
                signature_algorithms: vec![SIG_ECDSA_SHA256],
                authorities: vec![],
            };
            items.push(ctx.message(msg_type::CERTIFICATE_REQUEST, cr.encode(), 0));
        }
        items.push(ctx.message(msg_type::SERVER_HELLO_DONE, vec![], 0));
        ctx.actions.push(Action::Flight {
            items,
            retransmit: true,
        });

        let hello = Hello {
            client_random: ch.random,
            server_random,
            suite,
            ems,
        };
        let secret = Box::new(secret);
        Ok(if request {
            ServerState::ExpectCertificate(ExpectCertificate { hello, secret })
        } else {
            ServerState::ExpectClientKeyExchange(ExpectClientKeyExchange {
                hello,
                secret,
                peer: None,
            })
        })
    }
}

/// Expecting the client's Certificate (possibly empty).
#[derive(Clone)]
pub struct ExpectCertificate {
    hello: Hello,
    secret: Box<p256::SecretKey>,
}

impl ExpectCertificate {
    fn handle(self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ServerState, Error> {
        if m.msg_type != msg_type::CERTIFICATE {
            return Err(Error::UnexpectedMessage);
        }
        let cert = CertificateMsg::parse(&m.body)?;
        let peer = if cert.chain.is_empty() {
            if ctx.config.client_auth == ClientAuth::Require {
                return Err(Error::CertificateRequired);
            }
            None
        } else {
            Some(common::check_peer(&ctx.config.peers, &cert)?)
        };
        ctx.absorb(m);
        Ok(ServerState::ExpectClientKeyExchange(
            ExpectClientKeyExchange {
                hello: self.hello,
                secret: self.secret,
                peer,
            },
        ))
    }
}

/// Expecting ClientKeyExchange.
#[derive(Clone)]
pub struct ExpectClientKeyExchange {
    hello: Hello,
    secret: Box<p256::SecretKey>,
    peer: Option<PeerKey>,
}

impl ExpectClientKeyExchange {
    fn handle(self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ServerState, Error> {
        if m.msg_type != msg_type::CLIENT_KEY_EXCHANGE {
            return Err(Error::UnexpectedMessage);
        }
        let point = common::peer_point(&parse_client_key_exchange(&m.body)?)?;
        let pms = common::shared_secret(&self.secret, &point);
        ctx.absorb(m);
        let h = &self.hello;
        let ms = common::master_secret(
            h.suite,
            h.ems,
            &pms[..],
            ctx.transcript,
            &h.client_random,
            &h.server_random,
        );
        let keys = common::epoch_keys(
            ctx.config,
            h.suite,
            &ms,
            &h.client_random,
            &h.server_random,
            false,
        )?;
        ctx.actions.push(Action::InstallKeys(Box::new(keys)));
        Ok(match self.peer {
            Some(peer) => ServerState::ExpectCertificateVerify(ExpectCertificateVerify {
                hello: self.hello,
                ms,
                peer,
            }),
            None => ServerState::ExpectFinished(ExpectFinished {
                hello: self.hello,
                ms,
                peer: None,
            }),
        })
    }
}

/// Expecting CertificateVerify over the transcript so far.
#[derive(Clone)]
pub struct ExpectCertificateVerify {
    hello: Hello,
    ms: MasterSecret,
    peer: PeerKey,
}

impl ExpectCertificateVerify {
    fn handle(self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ServerState, Error> {
        if m.msg_type != msg_type::CERTIFICATE_VERIFY {
            return Err(Error::UnexpectedMessage);
        }
        let cv = parse_certificate_verify(&m.body)?;
        common::verify(&self.peer.key, ctx.transcript, &cv)?;
        ctx.absorb(m);
        Ok(ServerState::ExpectFinished(ExpectFinished {
            hello: self.hello,
            ms: self.ms,
            peer: Some(self.peer),
        }))
    }
}

/// Expecting the client's Finished in epoch 1.
#[derive(Clone)]
pub struct ExpectFinished {
    hello: Hello,
    ms: MasterSecret,
    peer: Option<PeerKey>,
}

impl ExpectFinished {
    fn handle(self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ServerState, Error> {
        if m.msg_type != msg_type::FINISHED {
            return Err(Error::UnexpectedMessage);
        }
        let suite = self.hello.suite;
        let want = common::finished(suite, &self.ms, b"client finished", ctx.transcript);
        common::check_finished(&want, &m.body)?;
        ctx.absorb(m);
        let verify = common::finished(suite, &self.ms, b"server finished", ctx.transcript);
        let fin = ctx.message(msg_type::FINISHED, verify.to_vec(), 1);
        // Flight 6 is the last: it is resent only when the client retransmits flight 5.
        ctx.actions.push(Action::Flight {
            items: vec![FlightItem::ChangeCipherSpec, fin],
            retransmit: false,
        });
        ctx.actions.push(Action::Connected(Negotiated {
            suite,
            peer: self.peer.as_ref().map(|p| p.fingerprint),
            extended_master_secret: self.hello.ems,
        }));
        Ok(ServerState::ExpectFinished(self))
    }
}

macro_rules! opaque_debug {
    ($($t:ty),*) => {$(
        impl core::fmt::Debug for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    )*};
}
opaque_debug!(
    ExpectCertificate,
    ExpectClientKeyExchange,
    ExpectCertificateVerify,
    ExpectFinished
);
