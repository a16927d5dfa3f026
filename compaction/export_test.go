package compaction

// SetBeforeCommit installs a hook run before each rewrite commit attempt,
// so tests can land a concurrent commit exactly while a rewrite is in flight.
func SetBeforeCommit(o *Options, f func(attempt int)) { o.beforeCommit = f }

// UseIcebergGoReplace makes rewrites commit through iceberg-go's rewrite
// producer instead of floe's own replace snapshot.
func UseIcebergGoReplace(o *Options) { o.icebergGoReplace = true }
