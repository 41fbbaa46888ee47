//! TEMPORARY placeholder until the JPEG-LS decoder lands.
#[derive(Debug)]
pub struct JpegLsError(pub String);
impl std::fmt::Display for JpegLsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for JpegLsError {}
pub struct JpegLsHeader {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub bits_per_sample: u8,
    pub near: u8,
    pub interleave: u8,
}
pub struct JpegLsImage {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub bits_per_sample: u8,
    pub near: u8,
    pub interleave: u8,
    pub samples: Vec<u16>,
}
pub fn read_header(_d: &[u8]) -> Result<JpegLsHeader, JpegLsError> {
    Err(JpegLsError("not yet".into()))
}
pub fn decode(_d: &[u8]) -> Result<JpegLsImage, JpegLsError> {
    Err(JpegLsError("not yet".into()))
}
