"""What to tell people when a registry's certificate is not trusted: why, and whose
certificate it is (subject, names, issuer), so they know which CA to give.

The failed handshake keeps no certificate, so it is read again in a second handshake that
verifies nothing and sends nothing, through the same guarded network (same checks, same
deadline).
"""

from __future__ import annotations

import ssl

import httpcore
from cryptography import x509

from workers.outbound.errors import OutboundError

DEFAULT_PROBE_TIMEOUT = 5.0  # seconds for the second handshake that reads the certificate


def verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed somewhere in the exception's chain, if any."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def describe_untrusted(
    network: httpcore.NetworkBackend, host: str, port: int, error: ssl.SSLCertVerificationError
) -> str:
    why = error.verify_message or error.reason or str(error)
    certificate = _peer_certificate(network, host, port)
    text = f"the certificate of {host}:{port} is not trusted: {why}"
    if certificate is not None:
        text += f"; it is {_about(certificate)}"
    return text


def _about(certificate: x509.Certificate) -> str:
    names: list[str] = []
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    subject = certificate.subject.rfc4514_string() or "(no subject)"
    issuer = certificate.issuer.rfc4514_string() or "(no issuer)"
    valid_for = f" valid for {', '.join(names)}" if names else ""
    return f"subject {subject}{valid_for}, issued by {issuer}"


def _peer_certificate(
    network: httpcore.NetworkBackend, host: str, port: int
) -> x509.Certificate | None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        stream = network.connect_tcp(host, port, timeout=DEFAULT_PROBE_TIMEOUT)
        try:
            tls = stream.start_tls(context, server_hostname=host, timeout=DEFAULT_PROBE_TIMEOUT)
            der = tls.get_extra_info("ssl_object").getpeercert(True)
        finally:
            stream.close()
        return x509.load_der_x509_certificate(der) if der else None
    except (OSError, ValueError, httpcore.NetworkError, httpcore.TimeoutException, OutboundError):
        return None  # the description goes without it
