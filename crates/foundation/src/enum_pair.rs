//! Mapping between the API's enums and their storage twins (the messages
//! in `storage/`), variant by variant, so a variant added to either side
//! fails to compile until it is mapped.

/// `enum_pair!(to_store, to_api, ApiEnum, StoredEnum, [VariantA, VariantB])`
/// defines `fn to_store(ApiEnum) -> StoredEnum` and its inverse, each an
/// exhaustive `match` over the variants both enums share by name.
#[macro_export]
macro_rules! enum_pair {
    ($to_store:ident, $to_api:ident, $api:ty, $store:ty, [$($variant:ident),+ $(,)?]) => {
        fn $to_store(value: $api) -> $store {
            match value {
                $(<$api>::$variant => <$store>::$variant,)+
            }
        }

        fn $to_api(value: $store) -> $api {
            match value {
                $(<$store>::$variant => <$api>::$variant,)+
            }
        }
    };
}
