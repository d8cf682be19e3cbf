/* bench/xds-translate-bench.c — times weft_xds_translate_from() against a
 * fresh weft_xds_translate() and checks they agree byte for byte.
 *
 *   /usr/bin/python3 bench/gen-mesh.py --out /tmp/a
 *   cp -r /tmp/a /tmp/b && /usr/bin/python3 bench/gen-mesh.py --out /tmp/b --change move
 *   make, then compile this file with -Iinclude -Ibuild/gen against every object
 *   under build/obj/src except the CLI's and every one under build/gen, linking
 *   -lssl -lcrypto -lnghttp2 -lprotobuf-c -lyaml -lm, into /tmp/txbench
 *   /tmp/txbench /tmp/a /tmp/b 20
 *
 * Prints the resources whose version changed, the best times, and memory.
 * Exits 1 when the reused snapshot differs from the fresh one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "weft/config.h"
#include "weft/xds.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
static weft_model_t *load(const char *d){weft_cfg_errors_t e;weft_cfg_errors_init(&e);weft_model_t*m=weft_config_load(d,&e);
 if(!m){fprintf(stderr,"load failed %zu\n",e.n);exit(1);} weft_cfg_errors_free(&e);return m;}
/* usage: t2 DIR_A DIR_B reps */
int main(int c,char**v){
 weft_model_t *a=load(v[1]), *b=load(v[2]); int reps=c>3?atoi(v[3]):10;
 weft_xds_snapshot_t *s1=weft_xds_translate(a,1);
 double best=1e9, bestf=1e9; weft_xds_snapshot_t *s2=NULL,*f=NULL;
 for(int i=0;i<reps;i++){ if(s2)weft_xds_snapshot_unref(s2);
   double t1=now(); s2=weft_xds_translate_from(b,2,s1); double t2=now(); if(t2-t1<best)best=t2-t1; }
 for(int i=0;i<3;i++){ if(f)weft_xds_snapshot_unref(f);
   double t1=now(); f=weft_xds_translate(b,2); double t2=now(); if(t2-t1<bestf)bestf=t2-t1; }
 /* identical? */
 size_t diff=0, changed=0;
 for(int t=0;t<WEFT_XDS_NTYPES;t++){
  if(s2->types[t].n!=f->types[t].n){printf("count differs type %d\n",t);return 1;}
  for(size_t i=0;i<f->types[t].n;i++){const weft_xds_resource_t*x=&s2->types[t].v[i],*y=&f->types[t].v[i];
   if(x->len!=y->len||memcmp(x->bytes,y->bytes,x->len)||x->name.len!=y->name.len||memcmp(x->name.p,y->name.p,x->name.len)||
      x->version.len!=y->version.len||memcmp(x->version.p,y->version.p,x->version.len)) diff++;
   const weft_xds_resource_t*o=weft_xds_snapshot_find(s1,t,x->name);
   if(!o||o->version.len!=x->version.len||memcmp(o->version.p,x->version.p,x->version.len)){changed++;
     printf("changed: %s %.*s\n",weft_xds_type_name(t),(int)x->name.len,x->name.p);}
  }}
 size_t own,sh; weft_xds_snapshot_memory(s2,&own,&sh); size_t fown; weft_xds_snapshot_memory(f,&fown,NULL);
 size_t s1own,s1sh; weft_xds_snapshot_memory(s1,&s1own,&s1sh);
 printf("reuse best %.2f ms; fresh best %.1f ms; differing from fresh: %zu; changed vs prev: %zu\n",best,bestf,diff,changed);
 printf("memory: reused snapshot own %zu KB shared %zu KB; fresh snapshot %zu KB; prev own %zu KB shared %zu KB\n",own>>10,sh>>10,fown>>10,s1own>>10,s1sh>>10);
 weft_xds_snapshot_unref(s1);weft_xds_snapshot_unref(s2);weft_xds_snapshot_unref(f);weft_model_free(a);weft_model_free(b);
 return diff!=0;}
