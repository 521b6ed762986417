"""Raw PKCS#11 mechanism parameters that python-pkcs11 0.10.1 cannot express itself.

python-pkcs11 builds CK_GCM_PARAMS from immutable `bytes`, so an HSM that writes its
own IV into `pIv` (AWS CloudHSM, Cloud KMS) would scribble over a Python object and
the IV would be lost; and its `Mechanism` enum rejects vendor codes such as
CKM_CLOUDKMS_AES_GCM. We build the C struct with ctypes over buffers we own and pass
it through python-pkcs11's raw-bytes parameter path, for every profile: SoftHSM2 runs
the same code in CI.
"""

from __future__ import annotations

import ctypes
from functools import cache

from pkcs11 import Mechanism

GCM_TAG_BITS = 128


class _CkGcmParams(ctypes.Structure):
    # PKCS#11 2.40 errata / 3.0 layout (with ulIvBits), as python-pkcs11 and SoftHSM2 use.
    _fields_ = (
        ("pIv", ctypes.c_void_p),
        ("ulIvLen", ctypes.c_ulong),
        ("ulIvBits", ctypes.c_ulong),
        ("pAAD", ctypes.c_void_p),
        ("ulAADLen", ctypes.c_ulong),
        ("ulTagBits", ctypes.c_ulong),
    )


class GcmParams:
    """CK_GCM_PARAMS whose IV buffer the HSM may write to.

    Keep the instance alive until the C_Encrypt/C_Decrypt call has returned: the
    struct points into its buffers.
    """

    def __init__(self, iv: bytes, aad: bytes) -> None:
        self._iv = ctypes.create_string_buffer(iv, len(iv))
        self._aad = ctypes.create_string_buffer(aad, max(len(aad), 1))
        struct = _CkGcmParams(
            ctypes.cast(self._iv, ctypes.c_void_p),
            len(iv),
            len(iv) * 8,
            ctypes.cast(self._aad, ctypes.c_void_p) if aad else None,
            len(aad),
            GCM_TAG_BITS,
        )
        self.raw = bytes(struct)

    def iv(self) -> bytes:
        """The IV as it is now: for HSM-chosen IVs, read this after C_Encrypt."""
        return self._iv.raw

    def __repr__(self) -> str:
        return "GcmParams(<iv>, <aad>)"


@cache
def mechanism(code: int) -> Mechanism:
    """A `Mechanism` for any code, including vendor-defined ones python-pkcs11 lacks."""
    try:
        return Mechanism(code)
    except ValueError:
        pseudo: Mechanism = int.__new__(Mechanism, code)
        pseudo._name_ = f"VENDOR_{code:#x}"
        pseudo._value_ = code
        return pseudo
