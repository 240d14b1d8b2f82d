//! Sensor glue that can run and be tested on the host: frame decoders and drivers over
//! embedded-hal traits, producing readings for [`crate::sample::Sample`].

pub mod pms5003;
