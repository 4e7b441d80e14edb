#include <stdio.h>

#include "station/cs_error.h"

int
main(void)
{
	printf("certstation %s\n", CERTSTATION_VERSION);
	return 0;
}
