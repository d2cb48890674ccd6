/** This package's version (package.json's, pinned equal by a test): the OpenTelemetry scope's `otel_scope_version`. */
export const VERSION = '0.1.0';
