//! Coordinates: where a latitude and longitude are, by an offline country-boundaries
//! dataset (the `country-boundaries` crate's 360×180 raster of OpenStreetMap borders,
//! ODbL, © OpenStreetMap contributors, as JOSM ships them).
//!
//! A coordinate reaches the tagger in one of three shapes:
//! - one string with both numbers: `"52.52,13.40"`, `"52.52 13.40"`, `geo:52.52,13.40`
//!   (RFC 5870), `POINT(13.40 52.52)` (WKT, longitude first), with `°` and hemisphere
//!   letters (`52.52°N 13.40°E`) or in degrees, minutes and seconds (`52°31'12"N`);
//! - one number per field, named by its key (`lat`/`latitude`, `lon`/`lng`/`longitude`,
//!   `x`/`y` inside a location object), paired with the other number under the same
//!   parent (`{"lat": 52.52, "lng": 13.40}`);
//! - one number per array element: GeoJSON's `coordinates` are longitude first, a key
//!   saying `latlng` or `lnglat` fixes the order, and any other array is read both ways.
//!
//! A point is in the country whose most specific area holds it (Åland's `AX`, not
//! `FI`; Gibraltar's `GI`). The borders are OpenStreetMap's, simplified: a point within
//! a few hundred metres of a land border may be placed on the wrong side, and territorial
//! waters (12 nautical miles) belong to the coast's country. A point in no country (the
//! open sea, Antarctica) or a value that is no coordinate is unreadable; `0,0` (where
//! a missing position lands) says nothing.

use std::sync::LazyLock;

use country_boundaries::{BOUNDARIES_ODBL_360X180, CountryBoundaries, LatLon};

use crate::country::Country;
use crate::extract::fields::ascii_key;

static BOUNDARIES: LazyLock<Option<CountryBoundaries>> =
    LazyLock::new(|| CountryBoundaries::from_reader(BOUNDARIES_ODBL_360X180).ok());

/// Loads the boundaries now (a few milliseconds), not on the first coordinate.
pub fn preload() {
    LazyLock::force(&BOUNDARIES);
}

/// What a coordinate said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Place {
    Country(Country),
    /// `0,0`: a missing position, not a place.
    Nowhere,
    /// No coordinate, or a point in no country.
    Unreadable,
}

/// The country a point is in.
pub fn locate(lat: f64, lon: f64) -> Place {
    if lat == 0.0 && lon == 0.0 {
        return Place::Nowhere;
    }
    let (Some(b), Ok(at)) = (BOUNDARIES.as_ref(), LatLon::new(lat, lon)) else {
        return Place::Unreadable;
    };
    // Most specific first (`["AX", "FI"]`, `["US-NY", "US"]`): the first id that is a
    // country.
    b.ids(at)
        .into_iter()
        .find_map(|id| (id.len() == 2).then(|| Country::from_alpha2(id)).flatten())
        .map_or(Place::Unreadable, Place::Country)
}

/// Which number of a pair a value is, by the key it came under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Lat,
    Lon,
    /// The `i`th element of an array.
    Index(usize),
}

/// The role a key gives its number: `lat`, `lng`, an array index; `None` for a key
/// that names no part of a coordinate (`location`: its number alone is unreadable).
pub fn role(token: &str) -> Option<Role> {
    if let Ok(i) = token.parse::<usize>() {
        return Some(Role::Index(i));
    }
    let mut buf = [0u8; 24];
    let k = ascii_key(token, &mut buf)?;
    match k {
        b"lat" | b"latitude" | b"y" | b"geolat" | b"gpslat" | b"latdeg" => Some(Role::Lat),
        b"lon" | b"lng" | b"long" | b"longitude" | b"x" | b"geolng" | b"geolon" | b"gpslon"
        | b"gpslng" | b"londeg" | b"lngdeg" => Some(Role::Lon),
        _ => None,
    }
}

/// In which order an array (or a string) under `key` gives its two numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    LatFirst,
    LonFirst,
    /// Nothing says: both readings are tried.
    Either,
    /// Latitude first, unless only the other reading lands in a country (a string's
    /// order: `"lat,lon"` is what APIs write, and a swapped pair lands nowhere).
    LatPreferred,
}

/// The order a key names: GeoJSON's `coordinates` and `lnglat` are longitude first,
/// `latlng` latitude first.
pub fn order_of(key: &str) -> Order {
    let mut buf = [0u8; 24];
    let Some(k) = ascii_key(key, &mut buf) else {
        return Order::Either;
    };
    let starts = |p: &[u8]| k.starts_with(p);
    if k == b"coordinates" || starts(b"lnglat") || starts(b"lonlat") || starts(b"longlat") {
        Order::LonFirst
    } else if starts(b"latlng") || starts(b"latlon") || starts(b"latlong") {
        Order::LatFirst
    } else {
        Order::Either
    }
}

/// The place of two numbers given in `order`: a reading with a country wins over one
/// without (a swapped pair lands at sea or in Antarctica); two readings with different
/// countries both count.
pub fn place_pair(a: f64, b: f64, order: Order) -> [Place; 2] {
    let at = |lat, lon| {
        if valid(lat, lon) {
            locate(lat, lon)
        } else {
            Place::Unreadable
        }
    };
    let lat_first = || at(a, b);
    let lon_first = || at(b, a);
    match order {
        Order::LatFirst => [lat_first(), Place::Nowhere],
        Order::LonFirst => [lon_first(), Place::Nowhere],
        Order::LatPreferred => match lat_first() {
            p @ Place::Country(_) => [p, Place::Nowhere],
            p => match lon_first() {
                q @ Place::Country(_) => [q, Place::Nowhere],
                _ => [p, Place::Nowhere],
            },
        },
        Order::Either => match (lat_first(), lon_first()) {
            (Place::Country(x), Place::Country(y)) => [Place::Country(x), Place::Country(y)],
            (p @ Place::Country(_), _) | (_, p @ Place::Country(_)) => [p, Place::Nowhere],
            (Place::Nowhere, _) | (_, Place::Nowhere) => [Place::Nowhere, Place::Nowhere],
            _ => [Place::Unreadable, Place::Nowhere],
        },
    }
}

fn valid(lat: f64, lon: f64) -> bool {
    lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0
}

/// Whether a string is meant as a coordinate (and is unreadable if it is not one): it
/// starts like a number or names a coordinate scheme. Anything else under a location
/// field (`"Berlin, Germany"`) is a place's name, read as an address.
pub fn looks_like_coordinates(v: &str) -> bool {
    let t = v.trim_start();
    let head = t.as_bytes().first().copied().unwrap_or(b' ');
    head.is_ascii_digit()
        // (`{"lat": ..}` as text, in a form field or a header: a structure, unreadable)
        || matches!(head, b'+' | b'-' | b'.' | b'(' | b'[' | b'{')
        || starts_ci(t, "geo:")
        || starts_ci(t, "point")
        || (hemisphere(head).is_some() && t.as_bytes().get(1).is_some_and(u8::is_ascii_digit))
}

fn starts_ci(t: &str, p: &str) -> bool {
    t.len() >= p.len() && t.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

/// One number of a coordinate string, and the axis its hemisphere letter names.
#[derive(Debug, Clone, Copy)]
struct Component {
    value: f64,
    axis: Option<Axis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Axis {
    Lat,
    Lon,
}

fn hemisphere(b: u8) -> Option<(Axis, f64)> {
    match b.to_ascii_uppercase() {
        b'N' => Some((Axis::Lat, 1.0)),
        b'S' => Some((Axis::Lat, -1.0)),
        b'E' => Some((Axis::Lon, 1.0)),
        b'W' => Some((Axis::Lon, -1.0)),
        _ => None,
    }
}

/// A string holding both numbers of a coordinate: where it is, or `None` when it holds
/// no two numbers (then it is one number, or unreadable). `order` is the key's.
pub fn place_text(v: &str, order: Order) -> Option<[Place; 2]> {
    let t = v.trim();
    let (body, order) = if starts_ci(t, "geo:") {
        // RFC 5870: latitude first; parameters after `;`.
        let rest = &t[4..];
        (rest.split(';').next().unwrap_or(""), Order::LatFirst)
    } else if starts_ci(t, "point") {
        // WKT: `POINT(lon lat)`, `POINT Z (lon lat alt)`.
        let open = t.find('(')?;
        let close = t.rfind(')')?;
        (t.get(open + 1..close)?, Order::LonFirst)
    } else {
        // (an array written as text is read as an array is)
        let order = if order == Order::Either && !t.starts_with('[') {
            Order::LatPreferred
        } else {
            order
        };
        (
            t.trim_matches(|c| matches!(c, '(' | ')' | '[' | ']')),
            order,
        )
    };
    let parts = components(body)?;
    let [a, b] = parts;
    match (a.axis, b.axis) {
        (Some(Axis::Lat), Some(Axis::Lon)) | (Some(Axis::Lat), None) | (None, Some(Axis::Lon)) => {
            Some(place_pair(a.value, b.value, Order::LatFirst))
        }
        (Some(Axis::Lon), Some(Axis::Lat)) | (Some(Axis::Lon), None) | (None, Some(Axis::Lat)) => {
            Some(place_pair(a.value, b.value, Order::LonFirst))
        }
        (None, None) => Some(place_pair(a.value, b.value, order)),
        // Two latitudes or two longitudes: no point.
        _ => Some([Place::Unreadable, Place::Nowhere]),
    }
}

/// The two numbers of a coordinate string (a third, an altitude, is allowed); `None`
/// when it is one number; `Some` with unreadable numbers is not returned: an unreadable
/// string is `None` too, and the caller decides by whether it is one number.
fn components(body: &str) -> Option<[Component; 2]> {
    let sep = |c: char| c == ',' || c == ';' || c.is_whitespace();
    let mut out = Vec::with_capacity(3);
    for piece in body.split(sep).filter(|p| !p.is_empty()) {
        // A hemisphere letter on its own (`52.5 N, 13.4 E`) belongs to the number before.
        if piece.len() == 1
            && let Some((axis, sign)) = hemisphere(piece.as_bytes()[0])
            && let Some(last) = out.last_mut()
        {
            let last: &mut Component = last;
            if last.axis.is_some() {
                return None;
            }
            last.axis = Some(axis);
            last.value = sign * last.value.abs();
            continue;
        }
        out.push(component(piece)?);
    }
    match out.as_slice() {
        [a, b] | [a, b, _] => Some([*a, *b]),
        _ => None,
    }
}

/// One number: decimal degrees (`52.52`, `-13.4`, `52.52°`), with a hemisphere letter
/// before or after (`N52.52`, `52.52N`), or degrees, minutes and seconds (`52°31'12.5"N`).
fn component(piece: &str) -> Option<Component> {
    let mut p = piece;
    let mut axis = None;
    let mut sign = 1.0;
    if let Some(&h) = p.as_bytes().first()
        && let Some((a, s)) = hemisphere(h)
        && p.len() > 1
    {
        (axis, sign) = (Some(a), s);
        p = &p[1..];
    } else if let Some(&h) = p.as_bytes().last()
        && let Some((a, s)) = hemisphere(h)
        && p.len() > 1
    {
        (axis, sign) = (Some(a), s);
        p = &p[..p.len() - 1];
    }
    let value = degrees(p)?;
    let value = if axis.is_some() {
        sign * value.abs()
    } else {
        value
    };
    Some(Component { value, axis })
}

/// `52.52`, `52.52°`, `52°31'`, `52°31'12.5"` (also with `′` and `″`).
fn degrees(p: &str) -> Option<f64> {
    let marks = |c: char| matches!(c, '°' | '\'' | '"' | '′' | '″' | 'º');
    if !p.contains(marks) {
        return number(p);
    }
    let neg = p.starts_with('-');
    let mut total = 0.0;
    let mut scale = 1.0;
    for (i, part) in p.trim_start_matches(['-', '+']).split(marks).enumerate() {
        if part.is_empty() {
            continue;
        }
        if i > 2 {
            return None;
        }
        let n = number(part)?;
        if n < 0.0 || (i > 0 && n >= 60.0) {
            return None;
        }
        total += n / scale;
        scale *= 60.0;
    }
    Some(if neg { -total } else { total })
}

/// One coordinate number as a field holds it: `52.52`, `52,52` (a decimal comma),
/// `52.52°`, `52°31'12"`, `N52.52`.
pub fn one_number(v: &str) -> Option<f64> {
    let t = v.trim();
    if let Some(c) = component(t) {
        return Some(c.value);
    }
    let (int, frac) = t.split_once(',')?;
    (!frac.contains(','))
        .then(|| number(&format!("{int}.{frac}")))
        .flatten()
}

/// A decimal number, digits and one point only (no `inf`, no exponent games).
pub fn number(p: &str) -> Option<f64> {
    let digits = p.trim_start_matches(['-', '+']);
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    ok.then(|| p.parse::<f64>().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> String {
        match locate(lat, lon) {
            Place::Country(c) => c.to_string(),
            other => format!("{other:?}"),
        }
    }

    fn text(v: &str, order: Order) -> Vec<String> {
        place_text(v, order)
            .map(|ps| {
                ps.iter()
                    .filter(|p| **p != Place::Nowhere)
                    .map(|p| match p {
                        Place::Country(c) => c.to_string(),
                        other => format!("{other:?}"),
                    })
                    .collect()
            })
            .unwrap_or_else(|| vec!["none".into()])
    }

    #[test]
    fn points_are_placed_in_the_most_specific_country() {
        assert_eq!(at(52.52, 13.405), "DE");
        assert_eq!(at(40.71, -74.0), "US");
        assert_eq!(at(60.1, 19.94), "AX");
        assert_eq!(at(4.93, -52.33), "GF");
        assert_eq!(at(36.14, -5.35), "GI");
        assert_eq!(at(35.89, -5.32), "ES"); // Ceuta: `EA` is no ISO 3166-1 code
        assert_eq!(at(64.18, -51.72), "GL");
        // Across the Rhine at Strasbourg and Kehl.
        assert_eq!(at(48.5745, 7.77), "FR");
        assert_eq!(at(48.5745, 7.81), "DE");
        // Territorial waters are the coast's; the open sea is no country.
        assert_eq!(at(48.39, -5.6), "FR");
        assert_eq!(at(55.0, 3.0), "Unreadable");
        assert_eq!(at(0.0, 0.0), "Nowhere");
        assert_eq!(at(91.0, 0.0), "Unreadable");
    }

    #[test]
    fn every_notation_of_a_pair() {
        use Order::*;
        for (v, order, want) in [
            ("52.52,13.405", Either, "DE"),
            ("52.52, 13.405", LatFirst, "DE"),
            ("52.52 13.405", Either, "DE"),
            ("(52.52, 13.405)", Either, "DE"),
            ("[52.52, 13.405]", LatFirst, "DE"),
            ("geo:52.52,13.405;u=35", Either, "DE"),
            ("POINT(13.405 52.52)", Either, "DE"),
            ("point z (13.405 52.52 34)", Either, "DE"),
            ("52.52°N 13.405°E", Either, "DE"),
            ("52.52 N, 13.405 E", Either, "DE"),
            ("13.405E 52.52N", Either, "DE"),
            ("N52.52 E13.405", Either, "DE"),
            ("52°31'12\"N 13°24'18\"E", Either, "DE"),
            ("52°31′12″N, 13°24′18″E", Either, "DE"),
            ("40.71,-74.0", Either, "US"),
            ("-74.0,40.71", Either, "US"),
            ("40°42'46\"N 74°0'22\"W", Either, "US"),
            ("-33.87,151.21", Either, "AU"),
        ] {
            assert_eq!(text(v, order), vec![want.to_string()], "{v}");
        }
        // A string is latitude first when both orders land in a country; an array
        // that nothing orders is read both ways.
        assert_eq!(text("13.405,52.52", Either), vec!["YE"]);
        assert_eq!(text("13.405,52.52", LonFirst), vec!["DE"]);
        assert_eq!(text("[13.405,52.52]", Either), vec!["YE", "DE"]);
        assert_eq!(
            place_pair(13.405, 52.52, Either),
            [
                Place::Country(Country::from_alpha2("YE").unwrap()),
                Place::Country(Country::from_alpha2("DE").unwrap())
            ]
        );
        // Not two numbers.
        for none in ["52.52", "", "abc", "52.52,13.4,5,6", "1e3,2", "inf,nan"] {
            assert_eq!(text(none, Either), vec!["none"], "{none}");
        }
        assert_eq!(text("52.5N 13.4N", Either), vec!["Unreadable"]);
    }

    #[test]
    fn keys_name_roles_and_orders() {
        assert_eq!(role("lat"), Some(Role::Lat));
        assert_eq!(role("Latitude"), Some(Role::Lat));
        assert_eq!(role("lng"), Some(Role::Lon));
        assert_eq!(role("LONGITUDE"), Some(Role::Lon));
        assert_eq!(role("1"), Some(Role::Index(1)));
        assert_eq!(role("location"), None);
        assert_eq!(order_of("coordinates"), Order::LonFirst);
        assert_eq!(order_of("lngLat"), Order::LonFirst);
        assert_eq!(order_of("lat_lng"), Order::LatFirst);
        assert_eq!(order_of("location"), Order::Either);
        assert!(looks_like_coordinates(" 52.5,13.4"));
        assert!(looks_like_coordinates("N52.5"));
        assert!(looks_like_coordinates("geo:1,2"));
        assert!(!looks_like_coordinates("Berlin, Germany"));
        assert!(!looks_like_coordinates("New York, NY"));
    }
}
