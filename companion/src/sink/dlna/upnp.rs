//! UPnP's two HTTP conversations with a renderer: its device description (name, id and the
//! control URLs of AVTransport and RenderingControl), and SOAP actions on those URLs. Both
//! answers are read to at most [`MAX_BODY`] bytes and parsed without DTDs.

use std::collections::HashMap;

/// The largest description or SOAP answer read.
pub const MAX_BODY: usize = 64 * 1024;
const AV_TRANSPORT: &str = "urn:schemas-upnp-org:service:AVTransport:";
const RENDERING_CONTROL: &str = "urn:schemas-upnp-org:service:RenderingControl:";

/// A renderer, as its description tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renderer {
    /// Its friendly name, e.g. "Living room TV".
    pub name: String,
    /// Its unique device name, `uuid:…`.
    pub udn: String,
    /// The description's URL.
    pub location: String,
    /// AVTransport's service type (its version matters in the SOAP action) and control URL.
    pub av_transport: (String, String),
    /// RenderingControl's, when it has one (for the volume).
    pub rendering_control: Option<(String, String)>,
}

/// Escapes text for an XML element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.tag_name().name() == name)
        .and_then(|c| c.text())
        .map(str::trim)
}

/// A URL of the description made absolute.
fn absolute(base: &str, url: &str) -> Result<String, String> {
    let base = reqwest::Url::parse(base).map_err(|e| format!("bad URL {base:?}: {e}"))?;
    let joined = base
        .join(url)
        .map_err(|e| format!("bad control URL {url:?}: {e}"))?;
    match joined.scheme() {
        "http" | "https" => Ok(joined.to_string()),
        other => Err(format!("control URL with scheme {other:?}")),
    }
}

/// The renderer a device description at `location` describes (its first MediaRenderer
/// device, embedded or root), or what is missing.
pub fn parse_description(location: &str, xml: &str) -> Result<Renderer, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let base = doc
        .descendants()
        .find(|n| n.tag_name().name() == "URLBase")
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(location);
    let device = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "device")
        .find(|d| child_text(*d, "deviceType").is_some_and(|t| t.contains(":MediaRenderer:")))
        .ok_or("no MediaRenderer device in its description")?;
    let service = |prefix: &str| -> Result<Option<(String, String)>, String> {
        let found = device
            .descendants()
            .filter(|n| n.tag_name().name() == "service")
            .find(|s| child_text(*s, "serviceType").is_some_and(|t| t.starts_with(prefix)));
        match found {
            None => Ok(None),
            Some(s) => {
                let kind = child_text(s, "serviceType").unwrap_or_default().to_string();
                let control = child_text(s, "controlURL").ok_or("a service without controlURL")?;
                Ok(Some((kind, absolute(base, control)?)))
            }
        }
    };
    Ok(Renderer {
        name: child_text(device, "friendlyName")
            .unwrap_or_default()
            .to_string(),
        udn: child_text(device, "UDN").unwrap_or_default().to_string(),
        location: location.to_string(),
        av_transport: service(AV_TRANSPORT)?
            .ok_or("no AVTransport service: it cannot play URLs")?,
        rendering_control: service(RENDERING_CONTROL)?,
    })
}

/// The body of a SOAP action.
pub fn envelope(service_type: &str, action: &str, args: &[(&str, &str)]) -> String {
    let args: String = args
        .iter()
        .map(|(k, v)| format!("<{k}>{}</{k}>", escape(v)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<s:Envelope \
         xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:{action} \
         xmlns:u=\"{}\">{args}</u:{action}></s:Body></s:Envelope>",
        escape(service_type)
    )
}

/// The output arguments of a SOAP answer (`<actionResponse>`'s children), or the fault's
/// UPnP error code and description.
pub fn parse_response(action: &str, xml: &str) -> Result<HashMap<String, String>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let wanted = format!("{action}Response");
    if let Some(response) = doc.descendants().find(|n| n.tag_name().name() == wanted) {
        return Ok(response
            .children()
            .filter(|c| c.is_element())
            .map(|c| {
                (
                    c.tag_name().name().to_string(),
                    c.text().unwrap_or_default().to_string(),
                )
            })
            .collect());
    }
    let code = doc
        .descendants()
        .find(|n| n.tag_name().name() == "errorCode")
        .and_then(|n| n.text());
    let description = doc
        .descendants()
        .find(|n| n.tag_name().name() == "errorDescription")
        .and_then(|n| n.text());
    Err(match (code, description) {
        (Some(c), Some(d)) => format!("UPnP error {c}: {d}"),
        (Some(c), None) => format!("UPnP error {c}"),
        _ => format!("no {wanted} in the answer"),
    })
}

/// DIDL-Lite metadata for a URL: many TVs refuse `SetAVTransportURI` without it.
pub fn didl(url: &str, mime: &str, title: &str, artist: &str) -> String {
    format!(
        "<DIDL-Lite xmlns=\"urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
         xmlns:upnp=\"urn:schemas-upnp-org:metadata-1-0/upnp/\"><item id=\"1\" parentID=\"0\" \
         restricted=\"1\"><dc:title>{}</dc:title><upnp:artist>{}</upnp:artist>\
         <upnp:class>object.item.audioItem.musicTrack</upnp:class><res \
         protocolInfo=\"http-get:*:{}:*\">{}</res></item></DIDL-Lite>",
        escape(title),
        escape(artist),
        escape(mime),
        escape(url)
    )
}

/// Reads at most [`MAX_BODY`] bytes of an answer.
pub async fn read_body(mut response: reqwest::Response) -> Result<String, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("an answer over {} KiB", MAX_BODY / 1024));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "an answer that is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIPTION: &str = r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<device><deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType>
<friendlyName>Living room TV</friendlyName><UDN>uuid:1234</UDN>
<serviceList>
<service><serviceType>urn:schemas-upnp-org:service:RenderingControl:1</serviceType>
<controlURL>/upnp/control/rendercontrol1</controlURL></service>
<service><serviceType>urn:schemas-upnp-org:service:AVTransport:1</serviceType>
<controlURL>control/transport</controlURL></service>
</serviceList></device></root>"#;

    #[test]
    fn descriptions_give_the_name_and_absolute_control_urls() {
        let r = parse_description("http://10.0.0.5:49152/dev/description.xml", DESCRIPTION)
            .expect("parses");
        assert_eq!(r.name, "Living room TV");
        assert_eq!(r.udn, "uuid:1234");
        assert_eq!(
            r.av_transport,
            (
                "urn:schemas-upnp-org:service:AVTransport:1".into(),
                "http://10.0.0.5:49152/dev/control/transport".into()
            )
        );
        assert_eq!(
            r.rendering_control.map(|(_, url)| url),
            Some("http://10.0.0.5:49152/upnp/control/rendercontrol1".into())
        );
        let server = DESCRIPTION.replace("MediaRenderer", "MediaServer");
        assert!(parse_description("http://h/d.xml", &server).is_err());
        let no_transport = DESCRIPTION.replace("AVTransport", "Other");
        assert!(
            parse_description("http://h/d.xml", &no_transport)
                .is_err_and(|e| e.contains("AVTransport"))
        );
        let dtd = format!("<!DOCTYPE root [<!ENTITY x \"y\">]>{DESCRIPTION}");
        assert!(
            parse_description("http://h/d.xml", &dtd).is_err(),
            "no DTDs"
        );
    }

    #[test]
    fn soap_answers_and_faults_are_read() {
        let ok = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<u:GetTransportInfoResponse xmlns:u="urn:schemas-upnp-org:service:AVTransport:1">
<CurrentTransportState>PLAYING</CurrentTransportState>
<CurrentTransportStatus>OK</CurrentTransportStatus></u:GetTransportInfoResponse>
</s:Body></s:Envelope>"#;
        let out = parse_response("GetTransportInfo", ok).expect("parses");
        assert_eq!(out["CurrentTransportState"], "PLAYING");
        let fault = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>
<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>716</errorCode>
<errorDescription>Resource not found</errorDescription></UPnPError></detail></s:Fault>
</s:Body></s:Envelope>"#;
        assert_eq!(
            parse_response("Play", fault),
            Err("UPnP error 716: Resource not found".into())
        );
    }

    #[test]
    fn envelopes_and_metadata_escape_what_they_carry() {
        let e = envelope(
            "urn:schemas-upnp-org:service:AVTransport:1",
            "SetAVTransportURI",
            &[("InstanceID", "0"), ("CurrentURI", "http://h/s?a=1&b=<2>")],
        );
        assert!(
            e.contains("<CurrentURI>http://h/s?a=1&amp;b=&lt;2&gt;</CurrentURI>"),
            "{e}"
        );
        assert!(roxmltree::Document::parse(&e).is_ok());
        let d = didl("http://h/s?a=1&b=2", "audio/mp4", "Rock & Roll", "\"Q\"");
        assert!(roxmltree::Document::parse(&d).is_ok(), "{d}");
        assert!(d.contains("protocolInfo=\"http-get:*:audio/mp4:*\""));
    }
}
