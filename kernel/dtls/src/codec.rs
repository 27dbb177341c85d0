//! Bounded readers and writers for TLS/DTLS wire vectors.
//!
//! Every read is bounds-checked and returns [`DecodeError`] instead of panicking; a
//! length-prefixed vector is read through [`Reader::sub_u8`]/[`Reader::sub_u16`]/
//! [`Reader::sub_u24`], which yield a reader confined to that vector.

use alloc::vec::Vec;

/// The input was shorter than its lengths say, or had bytes left over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError;

/// A cursor over untrusted bytes.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError)
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Everything not yet read.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// A fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian 24-bit integer.
    pub fn u24(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(3)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    /// A big-endian 48-bit integer.
    pub fn u48(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(6)?;
        Ok(u64::from_be_bytes([
            0, 0, b[0], b[1], b[2], b[3], b[4], b[5],
        ]))
    }

    /// A vector with a one-byte length prefix.
    pub fn sub_u8(&mut self) -> Result<Reader<'a>, DecodeError> {
        let n = self.u8()? as usize;
        Ok(Reader::new(self.take(n)?))
    }

    /// A vector with a two-byte length prefix.
    pub fn sub_u16(&mut self) -> Result<Reader<'a>, DecodeError> {
        let n = self.u16()? as usize;
        Ok(Reader::new(self.take(n)?))
    }

    /// A vector with a three-byte length prefix.
    pub fn sub_u24(&mut self) -> Result<Reader<'a>, DecodeError> {
        let n = self.u24()? as usize;
        Ok(Reader::new(self.take(n)?))
    }
}

/// Appends big-endian integers and length-prefixed vectors to a `Vec<u8>`.
pub trait Writer {
    /// One byte.
    fn put_u8(&mut self, v: u8);
    /// A big-endian u16.
    fn put_u16(&mut self, v: u16);
    /// A big-endian 24-bit integer (the top byte of `v` is ignored).
    fn put_u24(&mut self, v: u32);
    /// A big-endian 48-bit integer (the top two bytes of `v` are ignored).
    fn put_u48(&mut self, v: u64);
    /// Bytes with a one-byte length prefix; `v` must be shorter than 256 bytes.
    fn put_vec_u8(&mut self, v: &[u8]);
    /// Bytes with a two-byte length prefix; `v` must be shorter than 65536 bytes.
    fn put_vec_u16(&mut self, v: &[u8]);
    /// Bytes with a three-byte length prefix.
    fn put_vec_u24(&mut self, v: &[u8]);
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u24(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes()[1..]);
    }
    fn put_u48(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes()[2..]);
    }
    fn put_vec_u8(&mut self, v: &[u8]) {
        debug_assert!(v.len() < 0x100);
        self.put_u8(v.len() as u8);
        self.extend_from_slice(v);
    }
    fn put_vec_u16(&mut self, v: &[u8]) {
        debug_assert!(v.len() < 0x1_0000);
        self.put_u16(v.len() as u16);
        self.extend_from_slice(v);
    }
    fn put_vec_u24(&mut self, v: &[u8]) {
        debug_assert!(v.len() < 0x100_0000);
        self.put_u24(v.len() as u32);
        self.extend_from_slice(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn reads_integers_and_vectors() {
        let bytes = [1, 0, 2, 0, 0, 3, 0, 0, 0, 0, 0, 4, 2, 9, 9, 7];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(2));
        assert_eq!(r.u24(), Ok(3));
        assert_eq!(r.u48(), Ok(4));
        let mut v = r.sub_u8().unwrap();
        assert_eq!(v.take(2), Ok(&[9u8, 9][..]));
        assert!(v.finish().is_ok());
        assert!(r.finish().is_err());
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u8(), Err(DecodeError));
    }

    #[test]
    fn vector_longer_than_input_is_an_error() {
        let mut r = Reader::new(&[0, 5, 1, 2]);
        assert!(r.sub_u16().is_err());
        let mut r = Reader::new(&[0xff, 0xff, 0xff]);
        assert!(r.sub_u24().is_err());
    }

    #[test]
    fn writes_round_trip() {
        let mut out = vec![];
        out.put_u8(1);
        out.put_u16(0x0203);
        out.put_u24(0x0004_0506);
        out.put_u48(0x0708_090a_0b0c);
        out.put_vec_u8(&[0xaa]);
        out.put_vec_u16(&[0xbb]);
        out.put_vec_u24(&[0xcc]);
        assert_eq!(
            out,
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 0xaa, 0, 1, 0xbb, 0, 0, 1, 0xcc]
        );
    }
}
