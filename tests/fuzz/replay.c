/*
 * replay.c: runs a fuzz target over every file of a corpus directory, so that
 * corpora (and the crashes they once held) are ordinary regression tests in
 * builds without libFuzzer.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_FILE (1024 * 1024)

int
main(int argc, char **argv)
{
	DIR *d;
	struct dirent *de;
	int files = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	d = opendir(argv[1]);
	if (d == NULL) {
		perror(argv[1]);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;
		FILE *f;
		uint8_t *buf;
		size_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > REPLAY_MAX_FILE)
			continue;
		f = fopen(path, "rb");
		if (f == NULL)
			continue;
		buf = malloc((size_t)st.st_size + 1);
		n = buf != NULL ? fread(buf, 1, (size_t)st.st_size, f) : 0;
		fclose(f);
		if (buf == NULL)
			return 1;
		LLVMFuzzerTestOneInput(buf, n);
		free(buf);
		files++;
	}
	closedir(d);
	printf("replayed %d inputs from %s\n", files, argv[1]);
	return files > 0 ? 0 : 1;
}
