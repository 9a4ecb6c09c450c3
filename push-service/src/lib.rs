//! push-service: not built yet. Its binary serves only the operations endpoints.
