//! Uniform buffer contents. Every uniform struct in the shaders is made of
//! 16-byte members only (`vec4<f32>`, `vec4<i32>`, `vec4<u32>`, `mat4x4<f32>`), so
//! the WGSL uniform layout is the members one after another, with no padding rules
//! to get wrong; this writer appends them in order.

#[derive(Debug, Default, Clone)]
pub(crate) struct Uniforms {
    bytes: Vec<u8>,
}

impl Uniforms {
    pub fn f4(&mut self, v: [f64; 4]) -> &mut Self {
        for x in v {
            self.bytes.extend_from_slice(&(x as f32).to_le_bytes());
        }
        self
    }

    pub fn i4(&mut self, v: [i32; 4]) -> &mut Self {
        for x in v {
            self.bytes.extend_from_slice(&x.to_le_bytes());
        }
        self
    }

    pub fn u4(&mut self, v: [u32; 4]) -> &mut Self {
        for x in v {
            self.bytes.extend_from_slice(&x.to_le_bytes());
        }
        self
    }

    /// Column-major, as WGSL `mat4x4<f32>`.
    pub fn mat4(&mut self, cols: [f32; 16]) -> &mut Self {
        for x in cols {
            self.bytes.extend_from_slice(&x.to_le_bytes());
        }
        self
    }

    pub fn append(&mut self, other: &Uniforms) -> &mut Self {
        self.bytes.extend_from_slice(&other.bytes);
        self
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}
