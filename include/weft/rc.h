/* weft — the small set of return codes shared by the I/O, protocol and
 * server layers. Functions document which of them they return; 0 is
 * always success and every error is negative. */
#ifndef WEFT_RC_H
#define WEFT_RC_H

enum weft_rc {
	WEFT_OK      = 0,
	WEFT_EFAIL   = -1,  /* generic failure; errno may say more */
	WEFT_EAGAIN  = -2,  /* would block / need more input: try again later */
	WEFT_ELIMIT  = -3,  /* a configured bound (size, count) would be passed */
	WEFT_EPROTO  = -4,  /* the peer violated the protocol */
	WEFT_ENOMEM  = -5,  /* memory ran out */
	WEFT_ECLOSED = -6,  /* the peer closed, or the object is closing */
};

#endif
