//! `loader` decides what to fetch and turns WADO-RS replies into decoded frames. This
//! first piece retrieves a study or series the way the viewer does: metadata first
//! (one request per series), then every instance's frames as stored bytes, each
//! decoded as soon as its multipart part arrives. Priorities, cancellation and the
//! memory budget come with the viewer.

pub mod schedule;

use crate::codec::{
    decode_frame, frame_length_in_bytes, Codec, DecodeLimits, DecodedFrame, PixelDescription,
    TransferSyntax,
};
use crate::dicomweb::json::{tags, Dataset};
use crate::dicomweb::transport::{CancelToken, Transport};
use crate::dicomweb::{DicomWebClient, DicomWebError, QidoQuery};
use crate::error::DecodeError;

/// Why a frame could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    #[error(transparent)]
    DicomWeb(#[from] DicomWebError),
    #[error("{sop_instance_uid} frame {frame}: {error}")]
    Decode {
        sop_instance_uid: String,
        frame: u32,
        error: DecodeError,
    },
    #[error("{sop_instance_uid}: {message}")]
    Metadata {
        sop_instance_uid: String,
        message: String,
    },
}

impl RetrieveError {
    /// Worth retrying with backoff (5xx, 429, dropped connections, timeouts);
    /// decoding and metadata errors are not.
    pub fn is_transient(&self) -> bool {
        matches!(self, RetrieveError::DicomWeb(e) if e.is_transient())
    }

    /// The server's Retry-After, when it sent one.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            RetrieveError::DicomWeb(e) => e.retry_after_ms(),
            _ => None,
        }
    }
}

/// One instance's identity and pixel description, from WADO-RS metadata.
#[derive(Debug, Clone)]
pub struct InstancePlan {
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub sop_instance_uid: String,
    pub instance_number: Option<i64>,
    pub description: PixelDescription,
    /// The stored transfer syntax, where the metadata says (many servers do not).
    pub stored_transfer_syntax: Option<TransferSyntax>,
}

/// The Image Pixel description from a metadata data set (DICOM JSON).
pub fn pixel_description(d: &Dataset) -> Result<PixelDescription, String> {
    let need = |tag, name: &str| d.int(tag).ok_or_else(|| format!("metadata has no {name}"));
    let bits_allocated = need(tags::BITS_ALLOCATED, "Bits Allocated (0028,0100)")?;
    let desc = PixelDescription {
        rows: need(tags::ROWS, "Rows (0028,0010)")?.clamp(0, u32::MAX as i64) as u32,
        columns: need(tags::COLUMNS, "Columns (0028,0011)")?.clamp(0, u32::MAX as i64) as u32,
        samples_per_pixel: d.int(tags::SAMPLES_PER_PIXEL).unwrap_or(1).clamp(0, 16) as u16,
        bits_allocated: bits_allocated.clamp(0, 64) as u16,
        bits_stored: d
            .int(tags::BITS_STORED)
            .unwrap_or(bits_allocated)
            .clamp(0, 64) as u16,
        high_bit: d.int(tags::HIGH_BIT).map(|v| v.clamp(0, 63) as u16),
        pixel_representation: d.int(tags::PIXEL_REPRESENTATION).unwrap_or(0).clamp(0, 2) as u16,
        photometric_interpretation: d
            .string(tags::PHOTOMETRIC_INTERPRETATION)
            .ok_or("metadata has no Photometric Interpretation (0028,0004)")?
            .to_string(),
        planar_configuration: d.int(tags::PLANAR_CONFIGURATION).unwrap_or(0).clamp(0, 2) as u16,
        number_of_frames: d
            .int(tags::NUMBER_OF_FRAMES)
            .unwrap_or(1)
            .clamp(1, u32::MAX as i64) as u32,
    };
    desc.validate().map_err(|e| e.to_string())?;
    Ok(desc)
}

/// Instances with pixel data in a study (or one series), in series then instance order.
pub async fn plan<T: Transport>(
    client: &DicomWebClient<T>,
    study: &str,
    series: Option<&str>,
) -> Result<Vec<Result<InstancePlan, RetrieveError>>, RetrieveError> {
    let series_uids: Vec<String> = match series {
        Some(s) => vec![s.to_string()],
        None => client
            .search_series(Some(study), &QidoQuery::new())
            .await?
            .into_iter()
            .map(|s| s.series_instance_uid)
            .collect(),
    };
    let mut out = Vec::new();
    for se in series_uids {
        let mut sets = client.metadata(study, Some(&se), None).await?;
        sets.sort_by_key(|d| {
            (
                d.int(tags::INSTANCE_NUMBER).unwrap_or(i64::MAX),
                d.string(tags::SOP_INSTANCE_UID).unwrap_or("").to_string(),
            )
        });
        out.extend(sets.iter().filter_map(|d| instance_plan(study, &se, d)));
    }
    Ok(out)
}

/// One instance's plan from its metadata; `None` when it has no pixel data (SR,
/// presentation states, …).
pub fn instance_plan(
    study: &str,
    series: &str,
    d: &Dataset,
) -> Option<Result<InstancePlan, RetrieveError>> {
    let sop = d.string(tags::SOP_INSTANCE_UID)?.to_string();
    d.get(tags::ROWS)?;
    Some(
        pixel_description(d)
            .map(|description| InstancePlan {
                study_instance_uid: study.to_string(),
                series_instance_uid: series.to_string(),
                sop_instance_uid: sop.clone(),
                instance_number: d.int(tags::INSTANCE_NUMBER),
                description,
                stored_transfer_syntax: d
                    .string(tags::TRANSFER_SYNTAX_UID)
                    .or_else(|| d.string(tags::AVAILABLE_TRANSFER_SYNTAX_UID))
                    .and_then(|uid| TransferSyntax::from_uid(uid).ok()),
            })
            .map_err(|message| RetrieveError::Metadata {
                sop_instance_uid: sop,
                message,
            }),
    )
}

/// Frames per WADO-RS request for multi-frame instances.
const FRAMES_PER_REQUEST: usize = 16;

/// The transfer syntax to decode a frame with, from what its bytes look like (already
/// sniffed), what the metadata says was stored, and its length. Raw Deflate and RLE
/// carry no signature, and servers that do not know Deflated Image Frame
/// Compression pass it through labelled as native (Orthanc 1.10): a "native" frame
/// shorter than a native frame can be cannot be native.
fn reconcile(sniffed: TransferSyntax, len: usize, plan: &InstancePlan) -> TransferSyntax {
    let short_native = matches!(sniffed.codec(), Codec::Native { .. })
        && (len as u64) < frame_length_in_bytes(&plan.description);
    match plan.stored_transfer_syntax {
        _ if !short_native => sniffed,
        Some(stored) if matches!(stored.codec(), Codec::Deflate | Codec::Rle) => stored,
        _ => TransferSyntax::DeflatedImageFrameCompression,
    }
}

/// How an instance's frames were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retrieval {
    /// WADO-RS frames (stored bytes, or the server's default where it refused those).
    Frames,
    /// The server could not serve frames at all (Orthanc: 400 for uncompressed
    /// YBR_FULL_422 and 1-bit Big Endian), so the whole instance was fetched and its
    /// frames decoded here.
    WholeInstance,
}

/// Retrieves and decodes every frame of one instance, handing each to `on_frame`
/// (1-based frame number) as soon as it is decoded.
pub async fn retrieve_instance<T: Transport>(
    client: &DicomWebClient<T>,
    plan: &InstancePlan,
    limits: &DecodeLimits,
    mut on_frame: impl FnMut(u32, Result<DecodedFrame, RetrieveError>),
) -> Result<Retrieval, RetrieveError> {
    // Frame numbers batch by batch: Number of Frames comes from the server and is not
    // trusted to size anything.
    let frames = plan.description.number_of_frames;
    let batches = (1..=frames).step_by(FRAMES_PER_REQUEST).map(|first| {
        (first..=frames.min(first.saturating_add(FRAMES_PER_REQUEST as u32 - 1)))
            .collect::<Vec<u32>>()
    });
    for (i, batch) in batches.enumerate() {
        let batch = &batch[..];
        let mut delivered = 0;
        let result =
            client
                .retrieve_frames(
                    &plan.study_instance_uid,
                    &plan.series_instance_uid,
                    &plan.sop_instance_uid,
                    batch,
                    None,
                    |f| {
                        delivered += 1;
                        let ts = reconcile(f.transfer_syntax, f.bytes.len(), plan);
                        let decoded = decode_frame(ts, &f.bytes, &plan.description, limits)
                            .map_err(|error| RetrieveError::Decode {
                                sop_instance_uid: plan.sop_instance_uid.clone(),
                                frame: f.number,
                                error,
                            });
                        on_frame(f.number, decoded);
                    },
                )
                .await;
        match result {
            Ok(_) => {}
            Err(DicomWebError::Http { status, .. })
                if i == 0
                    && delivered == 0
                    && matches!(status, 400 | 406 | 415 | 500 | 501 | 503) =>
            {
                retrieve_whole_instance(client, plan, limits, &mut on_frame).await?;
                return Ok(Retrieval::WholeInstance);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Retrieval::Frames)
}

/// Retrieves and decodes frames `frames` (1-based) of one instance in one request
/// (a WADO-RS frame list): the viewer's unit of work, run in a Worker. Each frame
/// goes to `on_frame` as soon as its part has arrived and decoded (a decode error
/// is that frame's alone). Stored bytes first, the server's default next (both
/// inside [`DicomWebClient::retrieve_frames`]), the whole instance when the server
/// cannot serve frames at all. Returns how many frames were delivered: fewer than
/// asked means the server does not honour frame lists (the caller asks for the
/// rest one by one); an error applies to every frame not delivered.
pub async fn retrieve_frame_list<T: Transport>(
    client: &DicomWebClient<T>,
    plan: &InstancePlan,
    frames: &[u32],
    limits: &DecodeLimits,
    cancel: Option<&CancelToken>,
    mut on_frame: impl FnMut(u32, Result<DecodedFrame, RetrieveError>),
) -> Result<usize, RetrieveError> {
    let sop = &plan.sop_instance_uid;
    let mut delivered = 0usize;
    let result = client
        .retrieve_frames(
            &plan.study_instance_uid,
            &plan.series_instance_uid,
            sop,
            frames,
            cancel,
            |f| {
                delivered += 1;
                let ts = reconcile(f.transfer_syntax, f.bytes.len(), plan);
                let number = f.number;
                on_frame(
                    number,
                    decode_frame(ts, &f.bytes, &plan.description, limits).map_err(|error| {
                        RetrieveError::Decode {
                            sop_instance_uid: sop.clone(),
                            frame: number,
                            error,
                        }
                    }),
                );
            },
        )
        .await;
    match result {
        Ok(_) => Ok(delivered),
        // Fewer parts than frames asked for: the server answered a list with less.
        Err(DicomWebError::Body { .. }) if delivered > 0 && frames.len() > 1 => Ok(delivered),
        Err(DicomWebError::Http { status, .. })
            if delivered == 0 && matches!(status, 400 | 406 | 415 | 500 | 501) =>
        {
            let bytes = client
                .instance(&plan.study_instance_uid, &plan.series_instance_uid, sop)
                .await?;
            let file = crate::part10::DicomFile::from_bytes(&bytes).map_err(|error| {
                RetrieveError::Decode {
                    sop_instance_uid: sop.clone(),
                    frame: frames[0],
                    error,
                }
            })?;
            for &frame in frames {
                let decoded = file
                    .decode_frame(frame.saturating_sub(1), limits)
                    .map_err(|error| RetrieveError::Decode {
                        sop_instance_uid: sop.clone(),
                        frame,
                        error,
                    });
                on_frame(frame, decoded);
            }
            Ok(frames.len())
        }
        Err(e) => Err(e.into()),
    }
}

async fn retrieve_whole_instance<T: Transport>(
    client: &DicomWebClient<T>,
    plan: &InstancePlan,
    limits: &DecodeLimits,
    on_frame: &mut impl FnMut(u32, Result<DecodedFrame, RetrieveError>),
) -> Result<(), RetrieveError> {
    let bytes = client
        .instance(
            &plan.study_instance_uid,
            &plan.series_instance_uid,
            &plan.sop_instance_uid,
        )
        .await?;
    let sop = &plan.sop_instance_uid;
    let file =
        crate::part10::DicomFile::from_bytes(&bytes).map_err(|error| RetrieveError::Decode {
            sop_instance_uid: sop.clone(),
            frame: 1,
            error,
        })?;
    for index in 0..file.number_of_frames() {
        let decoded = file
            .decode_frame(index, limits)
            .map_err(|error| RetrieveError::Decode {
                sop_instance_uid: sop.clone(),
                frame: index + 1,
                error,
            });
        on_frame(index + 1, decoded);
    }
    Ok(())
}
