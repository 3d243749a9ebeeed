//! A GGUF v3 reader over bytes already in memory (a fetched file in the browser, a read file
//! natively): metadata, tensor infos, and dequantisation of F32, F16, Q8_0 and Q4_1 to f32.
//!
//! Layout (little-endian): magic `GGUF`, version u32, tensor count u64, metadata count u64,
//! the metadata key/values, the tensor infos (name, dims innermost first, type, offset), padding
//! to `general.alignment` (default 32), then the tensor data. Every read is bounds-checked: a
//! truncated or malformed file is an error naming what was being read, never a panic.

use std::collections::BTreeMap;

use half::f16;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;

/// Why a GGUF file could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GgufError {
    #[error("not a GGUF file (the first bytes are not \"GGUF\")")]
    NotGguf,
    #[error("GGUF version {0} is not supported (only version 3)")]
    Version(u32),
    #[error("the file is truncated while reading {0}")]
    Truncated(String),
    #[error("{0} is malformed: {1}")]
    Malformed(String, String),
    #[error("tensor {name}: type {ggml_type} is not supported (F32, F16, Q8_0 and Q4_1 are)")]
    UnsupportedType { name: String, ggml_type: u32 },
    #[error("tensor {0} is missing from the file")]
    MissingTensor(String),
    #[error("metadata {0} is missing or has the wrong type")]
    MissingKey(String),
    #[error("tensor {name}: expected shape {expected:?}, the file has {found:?}")]
    Shape { name: String, expected: Vec<usize>, found: Vec<usize> },
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// The tensor element types this reader dequantises (ggml's type ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Q4_1,
    Q8_0,
}

impl GgmlType {
    fn from_id(id: u32) -> Option<Self> {
        match id {
            0 => Some(Self::F32),
            1 => Some(Self::F16),
            3 => Some(Self::Q4_1),
            8 => Some(Self::Q8_0),
            _ => None,
        }
    }

    /// (elements per block, bytes per block).
    fn block(self) -> (usize, usize) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 => (1, 2),
            Self::Q4_1 => (32, 20),
            Self::Q8_0 => (32, 34),
        }
    }
}

/// Where one tensor lies and what it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions as numpy and burn see them: outermost first (GGUF stores them innermost first).
    pub shape: Vec<usize>,
    /// ggml's type id (see [`GgmlType`] for those that can be dequantised).
    pub ggml_type: u32,
    /// Offset of the data from the start of the tensor-data section.
    pub offset: u64,
}

impl TensorInfo {
    /// The number of elements, or `None` when the dimensions' product overflows `usize`.
    pub fn elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }
}

/// A parsed GGUF file that borrows its bytes.
#[derive(Debug)]
pub struct Gguf<'a> {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    data: &'a [u8],
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| GgufError::Truncated(what()))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        let bytes = self.take(N, what)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must fit what is left of the file (each item takes at least `min_item` bytes),
    /// so a hostile length cannot make us allocate gigabytes.
    fn count(&mut self, min_item: usize, what: &dyn Fn() -> String) -> Result<usize, GgufError> {
        let n = self.u64(what)?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n.saturating_mul(min_item as u64) > left {
            return Err(GgufError::Truncated(what()));
        }
        usize::try_from(n).map_err(|_| GgufError::Truncated(what()))
    }

    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, GgufError> {
        let len = self.count(1, what)?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::Malformed(what(), "not UTF-8".into()))
    }

    fn value(&mut self, kind: u32, what: &dyn Fn() -> String) -> Result<Value, GgufError> {
        Ok(match kind {
            0 => Value::U8(self.array::<1>(what)?[0]),
            1 => Value::I8(i8::from_le_bytes(self.array(what)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            7 => Value::Bool(self.array::<1>(what)?[0] != 0),
            8 => Value::String(self.string(what)?),
            9 => {
                let item_kind = self.u32(what)?;
                if item_kind == 9 {
                    return Err(GgufError::Malformed(what(), "nested arrays are not supported".into()));
                }
                let n = self.count(1, what)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item_kind, what)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            other => return Err(GgufError::Malformed(what(), format!("unknown value type {other}"))),
        })
    }
}

impl<'a> Gguf<'a> {
    /// Parses the header, metadata and tensor infos; checks that every tensor's data lies inside
    /// the file (so a truncated download is caught here, naming the first tensor cut off).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, GgufError> {
        if bytes.len() < 4 || &bytes[..4] != MAGIC {
            return Err(GgufError::NotGguf);
        }
        let mut r = Reader { bytes, pos: 4 };
        let version = r.u32(&|| "the header".into())?;
        if version != 3 {
            return Err(GgufError::Version(version));
        }
        let tensor_count = r.count(24, &|| "the tensor count".into())?;
        let kv_count = r.count(12, &|| "the metadata count".into())?;
        let mut metadata = BTreeMap::new();
        for i in 0..kv_count {
            let key = r.string(&|| format!("metadata key #{i}"))?;
            let what = || format!("metadata {key}");
            let kind = r.u32(&what)?;
            let value = r.value(kind, &what)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::with_capacity(tensor_count);
        for i in 0..tensor_count {
            let name = r.string(&|| format!("tensor info #{i}"))?;
            let what = || format!("the info of tensor {name}");
            let n_dims = r.u32(&what)?;
            if n_dims == 0 || n_dims > 4 {
                return Err(GgufError::Malformed(what(), format!("{n_dims} dimensions")));
            }
            let mut shape = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                let dim = r.u64(&what)?;
                shape.push(usize::try_from(dim).map_err(|_| GgufError::Malformed(what(), "dimension too large".into()))?);
            }
            shape.reverse();
            let ggml_type = r.u32(&what)?;
            let offset = r.u64(&what)?;
            tensors.push(TensorInfo { name, shape, ggml_type, offset });
        }
        let alignment = match metadata.get("general.alignment") {
            Some(v) => v.as_u64().filter(|a| *a > 0).ok_or_else(|| GgufError::MissingKey("general.alignment".into()))?,
            None => DEFAULT_ALIGNMENT,
        };
        // pos < 2^63, so ⌈pos / alignment⌉ · alignment < pos + alignment only overflows for an
        // alignment near 2^64, which checked_mul reports; a start past the file means no data.
        let start = (r.pos as u64).div_ceil(alignment).checked_mul(alignment);
        let start = start.and_then(|s| usize::try_from(s).ok());
        let data = start.and_then(|s| bytes.get(s..)).unwrap_or(&[]);
        let gguf = Self { version, metadata, tensors, data };
        for t in &gguf.tensors {
            if let Some(kind) = GgmlType::from_id(t.ggml_type) {
                gguf.raw(t, kind)?;
            }
        }
        Ok(gguf)
    }

    /// A metadata value, or an error naming the key.
    pub fn get(&self, key: &str) -> Result<&Value, GgufError> {
        self.metadata.get(key).ok_or_else(|| GgufError::MissingKey(key.into()))
    }

    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        self.get(key)?.as_u64().ok_or_else(|| GgufError::MissingKey(key.into()))
    }

    pub fn get_f64(&self, key: &str) -> Result<f64, GgufError> {
        self.get(key)?.as_f64().ok_or_else(|| GgufError::MissingKey(key.into()))
    }

    pub fn info(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensors.iter().find(|t| t.name == name).ok_or_else(|| GgufError::MissingTensor(name.into()))
    }

    fn raw(&self, info: &TensorInfo, kind: GgmlType) -> Result<&'a [u8], GgufError> {
        let (per_block, block_bytes) = kind.block();
        let truncated = || GgufError::Truncated(format!("the data of tensor {}", info.name));
        // A size the file's dimensions make larger than memory cannot lie inside the file.
        let elements = info.elements().ok_or_else(truncated)?;
        if elements % per_block != 0 {
            return Err(GgufError::Malformed(
                format!("tensor {}", info.name),
                format!("{elements} elements is not a whole number of {per_block}-element blocks"),
            ));
        }
        let len = (elements / per_block).checked_mul(block_bytes).ok_or_else(truncated)?;
        let start = usize::try_from(info.offset).ok();
        let range = start.and_then(|s| Some(s..s.checked_add(len)?));
        range.and_then(|range| self.data.get(range)).ok_or_else(truncated)
    }

    /// The matrix `name`, of shape [rows, cols], dequantised to f32 and transposed to [cols, rows]
    /// (row-major), in one buffer: 32 rows are dequantised at a time and written to their
    /// columns, so the largest matrix (SmolLM2's 113 MB embedding) is never held twice.
    pub fn matrix_f32_transposed(&self, name: &str, [rows, cols]: [usize; 2]) -> Result<Vec<f32>, GgufError> {
        let (_, kind, raw) = self.data_of(name, Some(&[rows, cols]))?;
        // 32 rows are 32·cols values: whole blocks of every type (1 or 32 values a block).
        const TILE: usize = 32;
        let (per_block, block_bytes) = kind.block();
        let tile_bytes = TILE * cols / per_block * block_bytes;
        let mut out = vec![0.0; rows * cols];
        for (t, chunk) in raw.chunks(tile_bytes.max(1)).enumerate() {
            let tile = dequantize(kind, chunk);
            for (r, row) in tile.chunks_exact(cols.max(1)).enumerate() {
                let r = t * TILE + r;
                row.iter().enumerate().for_each(|(c, &x)| out[c * rows + r] = x);
            }
        }
        Ok(out)
    }

    /// The blocks of the matrix `name`, of shape [rows, cols], when it is stored in Q4_1 (as they
    /// lie in the file, row by row); `None` for any other type.
    pub fn q4_1_blocks(&self, name: &str, [rows, cols]: [usize; 2]) -> Result<Option<&'a [u8]>, GgufError> {
        let (_, kind, raw) = self.data_of(name, Some(&[rows, cols]))?;
        Ok((kind == GgmlType::Q4_1).then_some(raw))
    }

    /// The tensor `name` dequantised to f32, in row-major order of its shape (outermost first).
    /// With `expected`, the shape must match it exactly.
    pub fn tensor_f32(&self, name: &str, expected: Option<&[usize]>) -> Result<(Vec<f32>, Vec<usize>), GgufError> {
        let (info, kind, raw) = self.data_of(name, expected)?;
        Ok((dequantize(kind, raw), info.shape.clone()))
    }

    /// The tensor `name`'s description, type and bytes; with `expected`, its shape must match.
    fn data_of(&self, name: &str, expected: Option<&[usize]>) -> Result<(&TensorInfo, GgmlType, &'a [u8]), GgufError> {
        let info = self.info(name)?;
        if let Some(expected) = expected
            && expected != info.shape.as_slice()
        {
            return Err(GgufError::Shape { name: name.into(), expected: expected.to_vec(), found: info.shape.clone() });
        }
        let kind = GgmlType::from_id(info.ggml_type)
            .ok_or_else(|| GgufError::UnsupportedType { name: name.into(), ggml_type: info.ggml_type })?;
        Ok((info, kind, self.raw(info, kind)?))
    }
}

/// Dequantises whole blocks of `kind` (the caller checked the length).
///
/// - Q8_0 (34 bytes / 32 values): f16 scale d, then 32 × i8 q: x = d·q.
/// - Q4_1 (20 bytes / 32 values): f16 scale d, f16 minimum m, then 16 bytes; byte j holds value j
///   in its low nibble and value j + 16 in its high nibble: x = d·q + m ([`deviate_blocks`]).
pub fn dequantize(kind: GgmlType, raw: &[u8]) -> Vec<f32> {
    let half = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f32();
    match kind {
        GgmlType::F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        GgmlType::F16 => raw.chunks_exact(2).map(half).collect(),
        GgmlType::Q8_0 => {
            let mut out = Vec::with_capacity(raw.len() / 34 * 32);
            for block in raw.chunks_exact(34) {
                let d = half(&block[0..2]);
                out.extend(block[2..].iter().map(|&q| d * f32::from(q as i8)));
            }
            out
        }
        GgmlType::Q4_1 => {
            let mut out = vec![0.0; raw.len() / deviate_blocks::BYTES * deviate_blocks::VALUES];
            deviate_blocks::rows(raw, &mut out);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny GGUF writer for tests: metadata of strings/u32 and raw tensors.
    fn write(meta: &[(&str, Value)], tensors: &[(&str, &[u64], u32, Vec<u8>)]) -> Vec<u8> {
        fn string(out: &mut Vec<u8>, s: &str) {
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(s.as_bytes());
        }
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend((tensors.len() as u64).to_le_bytes());
        out.extend((meta.len() as u64).to_le_bytes());
        for (key, value) in meta {
            string(&mut out, key);
            match value {
                Value::U32(v) => {
                    out.extend(4u32.to_le_bytes());
                    out.extend(v.to_le_bytes());
                }
                Value::String(s) => {
                    out.extend(8u32.to_le_bytes());
                    string(&mut out, s);
                }
                other => panic!("test writer: {other:?}"),
            }
        }
        let mut offset = 0u64;
        for (name, dims, kind, data) in tensors {
            string(&mut out, name);
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims.iter() {
                out.extend(d.to_le_bytes());
            }
            out.extend(kind.to_le_bytes());
            out.extend(offset.to_le_bytes());
            offset += (data.len() as u64).div_ceil(32) * 32;
        }
        while !out.len().is_multiple_of(32) {
            out.push(0);
        }
        for (_, _, _, data) in tensors {
            out.extend(data);
            while !out.len().is_multiple_of(32) {
                out.push(0);
            }
        }
        out
    }

    fn q4_1_block() -> Vec<u8> {
        let mut b = f16::from_f32(0.5).to_le_bytes().to_vec();
        b.extend(f16::from_f32(-1.0).to_le_bytes());
        b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        b
    }

    fn sample() -> Vec<u8> {
        let f32s: Vec<u8> = [1.0f32, -2.5, 3.25, 0.0, 4.0, 8.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let f16s: Vec<u8> = [f16::from_f32(1.5), f16::from_f32(-0.125)].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut q8 = f16::from_f32(0.25).to_le_bytes().to_vec();
        q8.extend((0..32).map(|i| (i as i8 - 16) as u8));
        write(
            &[("general.architecture", Value::String("llama".into())), ("llama.block_count", Value::U32(2))],
            &[("a", &[3, 2], 0, f32s), ("h", &[2], 1, f16s), ("q4", &[32], 3, q4_1_block()), ("q8", &[32], 8, q8), ("odd", &[4], 2, vec![0; 4])],
        )
    }

    #[test]
    fn reads_metadata_shapes_and_values() {
        let bytes = sample();
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(g.get("general.architecture").unwrap().as_str(), Some("llama"));
        assert_eq!(g.get_u64("llama.block_count").unwrap(), 2);
        let (a, shape) = g.tensor_f32("a", Some(&[2, 3])).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(a, vec![1.0, -2.5, 3.25, 0.0, 4.0, 8.0]);
        assert_eq!(g.tensor_f32("h", None).unwrap().0, vec![1.5, -0.125]);
    }

    #[test]
    fn dequantizes_q4_1_and_q8_0_exactly() {
        let bytes = sample();
        let g = Gguf::parse(&bytes).unwrap();
        let (q4, _) = g.tensor_f32("q4", None).unwrap();
        let expected: Vec<f32> = (0..16).map(|j| 0.5 * j as f32 - 1.0).chain((0..16).map(|j| 0.5 * (15 - j) as f32 - 1.0)).collect();
        assert_eq!(q4, expected);
        let (q8, _) = g.tensor_f32("q8", None).unwrap();
        assert_eq!(q8, (0..32).map(|i| 0.25 * (i - 16) as f32).collect::<Vec<_>>());
    }

    #[test]
    fn transposed_matrices_equal_the_transposed_dequantisation() {
        // Q8_0 rows of 16 values (a block spans two rows) and 70 rows (two whole tiles and a
        // part one); Q4_1 rows of 64 (two blocks a row); F32 rows of 3.
        let q8: Vec<u8> = (0..35u8).flat_map(|b| {
            let mut block = f16::from_f32(0.125 * f32::from(b + 1)).to_le_bytes().to_vec();
            block.extend((0..32u8).map(|i| i.wrapping_mul(b + 7) ^ b));
            block
        }).collect();
        let q4: Vec<u8> = (0..66).flat_map(|_| q4_1_block()).collect();
        let f32s: Vec<u8> = (0..12).flat_map(|i| (i as f32 * 0.5 - 2.0).to_le_bytes()).collect();
        let bytes = write(&[], &[("q8", &[16, 70], 8, q8), ("q4", &[64, 33], 3, q4), ("f", &[3, 4], 0, f32s)]);
        let g = Gguf::parse(&bytes).unwrap();
        for (name, [rows, cols]) in [("q8", [70, 16]), ("q4", [33, 64]), ("f", [4, 3])] {
            let (values, _) = g.tensor_f32(name, Some(&[rows, cols])).unwrap();
            let expected: Vec<f32> = (0..cols).flat_map(|c| (0..rows).map(move |r| (r, c))).map(|(r, c)| values[r * cols + c]).collect();
            assert_eq!(g.matrix_f32_transposed(name, [rows, cols]).unwrap(), expected, "{name}");
        }
        assert!(matches!(g.matrix_f32_transposed("q8", [16, 70]).unwrap_err(), GgufError::Shape { .. }));
    }

    #[test]
    fn errors_name_what_went_wrong() {
        let bytes = sample();
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(g.tensor_f32("missing", None).unwrap_err(), GgufError::MissingTensor("missing".into()));
        assert_eq!(g.tensor_f32("odd", None).unwrap_err(), GgufError::UnsupportedType { name: "odd".into(), ggml_type: 2 });
        assert!(matches!(g.tensor_f32("a", Some(&[3, 2])).unwrap_err(), GgufError::Shape { .. }));
        assert_eq!(Gguf::parse(b"GGML").unwrap_err(), GgufError::NotGguf);
        let mut v2 = bytes.clone();
        v2[4] = 2;
        assert_eq!(Gguf::parse(&v2).unwrap_err(), GgufError::Version(2));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = sample();
        // The last 32 bytes hold the unsupported tensor (not read); before them, q8's 34 bytes
        // padded to 64. Cutting inside q8's data names it.
        let q8_data_end = bytes.len() - 32 - 30;
        let err = Gguf::parse(&bytes[..q8_data_end - 10]).unwrap_err();
        assert_eq!(err, GgufError::Truncated("the data of tensor q8".into()));
        for len in 0..q8_data_end {
            assert!(Gguf::parse(&bytes[..len]).is_err(), "a file cut at {len} bytes parsed");
        }
    }
}
