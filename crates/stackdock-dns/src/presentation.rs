//! DNS presentation format (RFC 1035 §5.1): tokens, escapes and RDATA parsing.
//!
//! The parser lives in [`stackdock_core::dns::presentation`] so that every DNS
//! provider crate parses record text the same way; it is re-exported here
//! for existing callers.

use stackdock_core::dns::RecordType;

pub use stackdock_core::dns::presentation::{
    decode_escapes, parse_rdata, parse_rdata_tokens, resolve_name, tokenize, Lexed, Lexer, Token,
};

/// The record types this crate manages.
pub const SUPPORTED_TYPES: [RecordType; 10] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::TXT,
    RecordType::NS,
    RecordType::SOA,
    RecordType::SRV,
    RecordType::PTR,
    RecordType::CAA,
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use stackdock_core::dns::RecordData;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn host() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", 1..4)
            .prop_map(|l| format!("{}.example", l.join(".")))
    }

    fn any_data() -> impl Strategy<Value = RecordData> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|b| RecordData::A {
                address: Ipv4Addr::from(b)
            }),
            any::<[u8; 16]>().prop_map(|b| RecordData::AAAA {
                address: Ipv6Addr::from(b)
            }),
            host().prop_map(|target| RecordData::CNAME { target }),
            host().prop_map(|target| RecordData::PTR { target }),
            host().prop_map(|nameserver| RecordData::NS { nameserver }),
            (any::<u16>(), host()).prop_map(|(preference, exchange)| RecordData::MX {
                preference,
                exchange
            }),
            "\\PC{0,700}".prop_map(|text| RecordData::TXT { text }),
            (
                host(),
                host(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>()
            )
                .prop_map(|(mname, rname, serial, refresh, retry, expire, minimum)| {
                    RecordData::SOA {
                        mname,
                        rname,
                        serial,
                        refresh,
                        retry,
                        expire,
                        minimum,
                    }
                }),
            (any::<u16>(), any::<u16>(), any::<u16>(), host()).prop_map(
                |(priority, weight, port, target)| RecordData::SRV {
                    priority,
                    weight,
                    port,
                    target
                }
            ),
            (any::<u8>(), "[a-z0-9]{1,15}", "\\PC{0,100}")
                .prop_map(|(flags, tag, value)| RecordData::CAA { flags, tag, value }),
        ]
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(data in any_data()) {
            let text = data.to_string();
            let back = parse_rdata(data.record_type(), &text, "").unwrap();
            prop_assert_eq!(back, data);
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}", t in 0usize..10) {
            let _ = parse_rdata(SUPPORTED_TYPES[t], &text, "example.com");
        }
    }

    #[test]
    fn every_type_round_trips_through_display() {
        let samples = [
            RecordData::A {
                address: "192.0.2.1".parse().unwrap(),
            },
            RecordData::AAAA {
                address: "2001:db8::1".parse().unwrap(),
            },
            RecordData::CNAME {
                target: "www.example.com".into(),
            },
            RecordData::MX {
                preference: 10,
                exchange: "mail.example.com".into(),
            },
            RecordData::TXT {
                text: format!("v=spf1 \"quoted\" \\ {}", "x".repeat(300)),
            },
            RecordData::NS {
                nameserver: "ns1.example.net".into(),
            },
            RecordData::SOA {
                mname: "ns1.example.com".into(),
                rname: "hostmaster.example.com".into(),
                serial: 2024010101,
                refresh: 10800,
                retry: 3600,
                expire: 604800,
                minimum: 3600,
            },
            RecordData::SRV {
                priority: 1,
                weight: 2,
                port: 5060,
                target: "sip.example.com".into(),
            },
            RecordData::PTR {
                target: "host.example.com".into(),
            },
            RecordData::CAA {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into(),
            },
        ];
        for data in samples {
            let text = data.to_string();
            let back = parse_rdata(data.record_type(), &text, "").unwrap();
            assert_eq!(back, data, "{text}");
        }
    }

    #[test]
    fn relative_names_and_errors() {
        assert_eq!(
            parse_rdata(RecordType::CNAME, "@", "example.com").unwrap(),
            RecordData::CNAME {
                target: "example.com".into()
            }
        );
        assert_eq!(
            parse_rdata(RecordType::SRV, "0 0 0 .", "example.com").unwrap(),
            RecordData::SRV {
                priority: 0,
                weight: 0,
                port: 0,
                target: String::new()
            }
        );
        assert_eq!(
            parse_rdata(RecordType::MX, "0 .", "example.com").unwrap(),
            RecordData::MX {
                preference: 0,
                exchange: String::new()
            }
        );
        assert!(parse_rdata(RecordType::A, "300.1.1.1", "").is_err());
        assert!(parse_rdata(RecordType::MX, "mail.example.com.", "").is_err());
        assert!(parse_rdata(RecordType::MX, "70000 mail.example.com.", "").is_err());
        assert!(parse_rdata(RecordType::TXT, "\"unterminated", "").is_err());
        assert!(parse_rdata(RecordType::TXT, "\"\\256\"", "").is_err());
        assert!(parse_rdata(RecordType::ALIAS, "x.example.com.", "").is_err());
    }
}
