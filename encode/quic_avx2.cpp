// The AVX2 + BMI2 build of the QUIC row coder (quic_encode_impl.h); QuicEncoder calls it only
// on CPUs that have both. Nothing else belongs in this file: everything the header defines
// after its #pragma is compiled for those CPUs.
#if defined(__x86_64__)
#define QUIC_ENC_NS quic_enc_avx2
#define QUIC_ENC_AVX2 1
#include "encode/quic_encode_impl.h"
#endif
