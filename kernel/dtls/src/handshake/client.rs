//! Client states: flights 1, 3 and 5 of RFC 6347 §4.2.4.

use super::common::{self, Negotiated};
use super::fragment::Message;
use super::msgs::*;
use super::{Action, Ctx, FlightItem};
use crate::crypto::CipherSuite;
use crate::error::Error;
use crate::identity::PeerKey;
use crate::record::DTLS_1_2;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use rand_core::RngCore;

/// The client's handshake state.
#[derive(Clone, Debug)]
pub enum ClientState {
    ExpectServerHello(ExpectServerHello),
    ExpectCertificate(ExpectCertificate),
    ExpectServerKeyExchange(ExpectServerKeyExchange),
    ExpectServerHelloDone(ExpectServerHelloDone),
    ExpectFinished(ExpectFinished),
}

/// Randoms and the negotiated suite, carried through the states.
#[derive(Clone, Debug)]
pub struct Hello {
    pub client_random: [u8; 32],
    pub server_random: [u8; 32],
    pub suite: CipherSuite,
    pub ems: bool,
}

/// Sends flight 1 and returns the first state.
pub fn start(ctx: &mut Ctx<'_>) -> ClientState {
    let mut random = [0u8; 32];
    ctx.rng.fill_bytes(&mut random);
    let mut extensions = Extensions::default();
    extensions.push(ext::SUPPORTED_GROUPS, encode_u16_list(&[GROUP_SECP256R1]));
    extensions.push(ext::EC_POINT_FORMATS, vec![1, 0]);
    extensions.push(
        ext::SIGNATURE_ALGORITHMS,
        encode_u16_list(&[SIG_ECDSA_SHA256]),
    );
    extensions.push(ext::EXTENDED_MASTER_SECRET, vec![]);
    extensions.push(ext::RENEGOTIATION_INFO, vec![0]);
    let hello = ClientHello {
        client_version: DTLS_1_2,
        random,
        session_id: vec![],
        cookie: vec![],
        cipher_suites: ctx.config.suites.iter().map(|s| s.code()).collect(),
        compression_methods: vec![0],
        extensions,
    };
    send_hello(ctx, &hello);
    ClientState::ExpectServerHello(ExpectServerHello { hello, cookies: 0 })
}

fn send_hello(ctx: &mut Ctx<'_>, hello: &ClientHello) {
    // RFC 6347 §4.2.1: the first ClientHello and the HelloVerifyRequest are not hashed.
    ctx.transcript.clear();
    let item = ctx.message(msg_type::CLIENT_HELLO, hello.encode(), 0);
    ctx.actions.push(Action::Flight {
        items: vec![item],
        retransmit: true,
    });
}

impl ClientState {
    /// Handles one complete message from the server.
    pub fn handle(self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ClientState, Error> {
        let expect_epoch = if matches!(self, ClientState::ExpectFinished(_)) {
            1
        } else {
            0
        };
        if m.epoch != expect_epoch {
            return Err(Error::UnexpectedMessage);
        }
        match self {
            ClientState::ExpectServerHello(s) => s.handle(ctx, m),
            ClientState::ExpectCertificate(s) => s.handle(ctx, m),
            ClientState::ExpectServerKeyExchange(s) => s.handle(ctx, m),
            ClientState::ExpectServerHelloDone(s) => s.handle(ctx, m),
            ClientState::ExpectFinished(s) => s.handle(ctx, m),
        }
    }
}

/// HelloVerifyRequests answered in one handshake.
const MAX_HELLO_VERIFY: u8 = 16;

/// Flight 1 or 3 sent; expecting HelloVerifyRequest or ServerHello.
#[derive(Clone, Debug)]
pub struct ExpectServerHello {
    hello: ClientHello,
    cookies: u8,
}

impl ExpectServerHello {
    fn handle(mut self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ClientState, Error> {
        match m.msg_type {
            msg_type::HELLO_VERIFY_REQUEST => {
                let hvr = HelloVerifyRequest::parse(&m.body)?;
                // A server may ask more than once, but not forever. Anyone can send a
                // HelloVerifyRequest, so this bounds the hellos forged ones make us send;
                // the handshake's own timeout bounds the rest.
                if self.cookies >= MAX_HELLO_VERIFY || hvr.cookie.is_empty() {
                    return Err(Error::UnexpectedMessage);
                }
                self.cookies += 1;
                self.hello.cookie = hvr.cookie;
                send_hello(ctx, &self.hello);
                Ok(ClientState::ExpectServerHello(self))
            }
            msg_type::SERVER_HELLO => {
                let sh = ServerHello::parse(&m.body)?;
                if sh.server_version != DTLS_1_2 {
                    return Err(Error::IllegalParameter);
                }
                let suite = CipherSuite::from_code(sh.cipher_suite)
                    .filter(|s| ctx.config.suites.contains(s))
                    .ok_or(Error::IllegalParameter)?;
                if sh.compression_method != 0 {
                    return Err(Error::IllegalParameter);
                }
                let ems = match sh.extensions.get(ext::EXTENDED_MASTER_SECRET) {
                    Some([]) => true,
                    Some(_) => return Err(Error::Decode),
                    None => false,
                };
                if !ems && ctx.config.require_extended_master_secret {
                    return Err(Error::MissingExtendedMasterSecret);
                }
                if let Some(ri) = sh.extensions.get(ext::RENEGOTIATION_INFO) {
                    if ri != [0] {
                        return Err(Error::BadRenegotiationInfo);
                    }
                }
                if let Some(pf) = sh.extensions.get(ext::EC_POINT_FORMATS) {
                    // The list must allow uncompressed points.
                    if pf.len() < 2 || !pf[1..].contains(&0) {
                        return Err(Error::IllegalParameter);
                    }
                }
                // Extensions we did not offer must not appear.
                let offered = [
                    ext::EXTENDED_MASTER_SECRET,
                    ext::RENEGOTIATION_INFO,
                    ext::EC_POINT_FORMATS,
                ];
                if sh.extensions.0.iter().any(|(c, _)| !offered.contains(c)) {
                    return Err(Error::UnexpectedMessage);
                }
                ctx.absorb(m);
                Ok(ClientState::ExpectCertificate(ExpectCertificate {
                    hello: Hello {
                        client_random: self.hello.random,
                        server_random: sh.random,
                        suite,
                        ems,
                    },
                }))
            }
            _ => Err(Error::UnexpectedMessage),
        }
    }
}

/// Expecting the server's Certificate.
#[derive(Clone, Debug)]
pub struct ExpectCertificate {
    hello: Hello,
}

impl ExpectCertificate {
    fn handle(self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ClientState, Error> {
        if m.msg_type != msg_type::CERTIFICATE {
            return Err(Error::UnexpectedMessage);
        }
        let cert = CertificateMsg::parse(&m.body)?;
        let peer = common::check_peer(&ctx.config.peers, &cert)?;
        ctx.absorb(m);
        Ok(ClientState::ExpectServerKeyExchange(
            ExpectServerKeyExchange {
                hello: self.hello,
                peer,
            },
        ))
    }
}

/// Expecting ServerKeyExchange, signed by the pinned key.
#[derive(Clone, Debug)]
pub struct ExpectServerKeyExchange {
    hello: Hello,
    peer: PeerKey,
}

impl ExpectServerKeyExchange {
    fn handle(self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ClientState, Error> {
        if m.msg_type != msg_type::SERVER_KEY_EXCHANGE {
            return Err(Error::UnexpectedMessage);
        }
        let ske = ServerKeyExchange::parse(&m.body)?;
        if ske.named_group != GROUP_SECP256R1 {
            return Err(Error::IllegalParameter);
        }
        let point = common::peer_point(&ske.public)?;
        let mut signed = Vec::with_capacity(64 + 4 + ske.public.len());
        signed.extend_from_slice(&self.hello.client_random);
        signed.extend_from_slice(&self.hello.server_random);
        signed.extend_from_slice(&ServerKeyExchange::params(ske.named_group, &ske.public));
        common::verify(&self.peer.key, &signed, &ske.signed)?;
        ctx.absorb(m);
        Ok(ClientState::ExpectServerHelloDone(ExpectServerHelloDone {
            hello: self.hello,
            peer: self.peer,
            server_point: point,
            request: None,
        }))
    }
}

/// Expecting an optional CertificateRequest, then ServerHelloDone.
#[derive(Clone, Debug)]
pub struct ExpectServerHelloDone {
    hello: Hello,
    peer: PeerKey,
    server_point: p256::PublicKey,
    request: Option<CertificateRequest>,
}

impl ExpectServerHelloDone {
    fn handle(mut self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ClientState, Error> {
        match m.msg_type {
            msg_type::CERTIFICATE_REQUEST if self.request.is_none() => {
                self.request = Some(CertificateRequest::parse(&m.body)?);
                ctx.absorb(m);
                Ok(ClientState::ExpectServerHelloDone(self))
            }
            msg_type::SERVER_HELLO_DONE => {
                if !m.body.is_empty() {
                    return Err(Error::Decode);
                }
                ctx.absorb(m);
                self.send_flight5(ctx)
            }
            _ => Err(Error::UnexpectedMessage),
        }
    }

    fn send_flight5(self, ctx: &mut Ctx<'_>) -> Result<ClientState, Error> {
        let mut items = Vec::new();
        // Answer a CertificateRequest with our certificate only if it allows ECDSA with
        // SHA-256; otherwise with an empty Certificate (RFC 5246 §7.4.6).
        let mut signing = false;
        if let Some(req) = &self.request {
            let usable = ctx.config.send_client_certificate
                && req.certificate_types.contains(&CERT_TYPE_ECDSA_SIGN)
                && req.signature_algorithms.contains(&SIG_ECDSA_SHA256);
            let cert = if usable {
                signing = true;
                common::our_certificate(ctx.config)
            } else {
                CertificateMsg { chain: vec![] }
            };
            items.push(ctx.message(msg_type::CERTIFICATE, cert.encode(), 0));
        }
        let (secret, public) = common::ephemeral(ctx.rng);
        let pms = common::shared_secret(&secret, &self.server_point);
        items.push(ctx.message(
            msg_type::CLIENT_KEY_EXCHANGE,
            encode_client_key_exchange(&public),
            0,
        ));
        let h = &self.hello;
        let ms = common::master_secret(
            h.suite,
            h.ems,
            &pms[..],
            ctx.transcript,
            &h.client_random,
            &h.server_random,
        );
        if signing {
            let cv = common::sign(ctx.config.identity.signing_key(), ctx.transcript);
            items.push(ctx.message(
                msg_type::CERTIFICATE_VERIFY,
                encode_certificate_verify(&cv),
                0,
            ));
        }
        items.push(FlightItem::ChangeCipherSpec);
        let verify = common::finished(h.suite, &ms, b"client finished", ctx.transcript);
        items.push(ctx.message(msg_type::FINISHED, verify.to_vec(), 1));
        let keys = common::epoch_keys(
            ctx.config,
            h.suite,
            &ms,
            &h.client_random,
            &h.server_random,
            true,
        )?;
        ctx.actions.push(Action::InstallKeys(Box::new(keys)));
        ctx.actions.push(Action::Flight {
            items,
            retransmit: true,
        });
        Ok(ClientState::ExpectFinished(ExpectFinished {
            hello: self.hello,
            peer: self.peer,
            ms,
        }))
    }
}

/// Flight 5 sent; expecting the server's Finished in epoch 1.
#[derive(Clone)]
pub struct ExpectFinished {
    hello: Hello,
    peer: PeerKey,
    ms: crate::crypto::keys::MasterSecret,
}

impl core::fmt::Debug for ExpectFinished {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ExpectFinished")
    }
}

impl ExpectFinished {
    fn handle(self, ctx: &mut Ctx<'_>, m: &Message) -> Result<ClientState, Error> {
        if m.msg_type != msg_type::FINISHED {
            return Err(Error::UnexpectedMessage);
        }
        let want = common::finished(
            self.hello.suite,
            &self.ms,
            b"server finished",
            ctx.transcript,
        );
        common::check_finished(&want, &m.body)?;
        ctx.absorb(m);
        ctx.actions.push(Action::Connected(Negotiated {
            suite: self.hello.suite,
            peer: Some(self.peer.fingerprint),
            extended_master_secret: self.hello.ems,
        }));
        // The handshake is over; the caller moves the connection to the established state.
        Ok(ClientState::ExpectFinished(self))
    }
}
