//! Product groups (товарные группы) of the operator's guide, protocol.md §1.9.

/// One product group: the numeric id used in `groupIds` and the module's `pg`, the code name
/// the operator's API uses, and a short English description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProductGroup {
    pub id: u16,
    pub name: &'static str,
    pub description: &'static str,
}

macro_rules! groups {
    ($($id:literal $name:literal $desc:literal,)*) => {
        /// Every group of protocol.md §1.9, ordered by id.
        pub const ALL: &[ProductGroup] = &[
            $(ProductGroup { id: $id, name: $name, description: $desc },)*
        ];
    };
}

groups! {
    1 "lp" "clothing, bed/table/bath linen",
    2 "shoes" "footwear",
    3 "tobacco" "tobacco products",
    4 "perfumery" "perfume and eau de toilette",
    5 "tires" "new pneumatic tyres",
    6 "electronics" "photo cameras, flashes",
    8 "milk" "dairy",
    9 "bicycle" "bicycles and frames",
    10 "wheelchairs" "medical devices",
    12 "otp" "alternative tobacco products",
    13 "water" "packaged water",
    14 "furs" "natural fur goods",
    15 "beer" "beer, beer-based and low-alcohol drinks",
    16 "ncp" "nicotine-containing products",
    17 "bio" "dietary supplements (incl. sports nutrition)",
    19 "antiseptic" "antiseptics and disinfectants",
    20 "petfood" "pet food",
    21 "seafood" "seafood (caviar)",
    22 "nabeer" "non-alcoholic beer",
    23 "softdrinks" "juices and soft drinks",
    26 "vetpharma" "veterinary drugs",
    27 "toys" "games and toys",
    28 "radio" "radio-electronics",
    32 "conserve" "canned food",
    33 "vegetableoil" "vegetable oils",
    35 "chemistry" "cosmetics, household chemicals, hygiene",
    37 "grocery" "grocery",
    39 "construction" "building materials",
    43 "autofluids" "motor oils",
    45 "sweets" "sweets and confectionery",
}

pub const LP: u16 = 1;
pub const SHOES: u16 = 2;
pub const TOBACCO: u16 = 3;
pub const ELECTRONICS: u16 = 6;
pub const MILK: u16 = 8;
pub const OTP: u16 = 12;
pub const BEER: u16 = 15;
pub const NCP: u16 = 16;

impl ProductGroup {
    pub fn by_id(id: u16) -> Option<&'static ProductGroup> {
        ALL.iter().find(|g| g.id == id)
    }

    /// Looks a group up by its code name (`"tobacco"`, `"milk"`, …), ignoring ASCII case.
    pub fn by_name(name: &str) -> Option<&'static ProductGroup> {
        ALL.iter().find(|g| g.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert_eq!(ALL.len(), 30);
        assert!(ALL.windows(2).all(|w| w[0].id < w[1].id));
        let mut names: Vec<_> = ALL.iter().map(|g| g.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn lookups() {
        assert_eq!(ProductGroup::by_id(16).map(|g| g.name), Some("ncp"));
        assert_eq!(
            ProductGroup::by_name("Tobacco").map(|g| g.id),
            Some(TOBACCO)
        );
        assert!(ProductGroup::by_id(7).is_none());
        assert!(ProductGroup::by_name("vodka").is_none());
    }
}
