#!/usr/bin/env python3
# cuda_flash_attention_sim.py: lib/backend/cuda/cuda_flash_attention.cu's three kernels written
# out in numpy fp32 -- the same block -> (slice, tile) map, tile sizes per head dim, shared-memory
# tiles with zero rows past T, causal tile skipping, per-warp rows/keys, lane masks, online softmax
# and the dK/dV-per-key-tile and dQ-per-query-tile passes -- checked against an fp64 reference at
# d = 32, 64, 128 and T = 1, 7, 33, 64, 130. A check of the kernels' index and tiling logic on a
# machine without a GPU (no GPU has run them); not registered with ctest (needs numpy, ~1 min).
# Keep it in step with the .cu file. Usage: python3 tests/unit/cuda_flash_attention_sim.py
import numpy as np
W=32; WARPS=4
def tile(D): R=256//D; return R, WARPS*R, D//W
def fwd(q,k,v,scale):
    N,T,D=q.shape; R,BQ,PL=tile(D); tiles=(T+BQ-1)//BQ
    out=np.full_like(q,np.nan); lse=np.full((N,T),np.nan,np.float32)
    for b in range(N*tiles):
        n=b%N; t=tiles-1-b//N; q0=t*BQ
        qs=np.zeros((BQ,D),np.float32)
        for r in range(BQ):
            if q0+r<T: qs[r]=q[n,q0+r]
        m=[-np.inf]*(WARPS*R); l=[np.float32(0)]*(WARPS*R); acc=np.zeros((WARPS*R,D),np.float32)
        q_end=min(T,q0+BQ)
        for k0 in range(0,q_end,W):
            ks=np.zeros((W,D),np.float32); vs=np.zeros((W,D),np.float32)
            for j in range(W):
                if k0+j<T: ks[j]=k[n,k0+j]; vs[j]=v[n,k0+j]
            for warp in range(WARPS):
                for r in range(R):
                    row=warp*R+r; qi=q0+row
                    if qi>=T: continue
                    kj=k0+np.arange(W); vis=kj<=qi
                    s=np.where(vis, np.float32(scale)*(ks@qs[row]), -np.inf).astype(np.float32)
                    tm=s.max(); mn=max(tm,m[row]); c=np.float32(0) if m[row]==-np.inf else np.exp(np.float32(m[row]-mn))
                    m[row]=mn; l[row]=np.float32(l[row]*c)
                    p=np.where(vis,np.exp(s-mn),0).astype(np.float32)
                    l[row]=np.float32(l[row]+p.sum())
                    acc[row]=acc[row]*c + p@vs
        for warp in range(WARPS):
            for r in range(R):
                row=warp*R+r; qi=q0+row
                if qi>=T: continue
                out[n,qi]=acc[row]/l[row]; lse[n,qi]=m[row]+np.log(l[row])
    return out,lse
def bwd(q,k,v,o,do,lse,scale):
    N,T,D=q.shape; R,B,PL=tile(D); tiles=(T+B-1)//B
    delta=(do.astype(np.float32)*o).sum(-1).astype(np.float32)
    dk=np.full_like(q,np.nan); dv=np.full_like(q,np.nan); dq=np.full_like(q,np.nan)
    for b in range(N*tiles):  # dkdv
        n=b%N; t=b//N; k0=t*B
        ks=np.zeros((B,D),np.float32); vs=np.zeros((B,D),np.float32)
        for j in range(B):
            if k0+j<T: ks[j]=k[n,k0+j]; vs[j]=v[n,k0+j]
        dka=np.zeros((B,D),np.float32); dva=np.zeros((B,D),np.float32)
        for i0 in range((k0//W)*W, T, W):
            qs=np.zeros((W,D),np.float32); dos=np.zeros((W,D),np.float32); ls=np.zeros(W,np.float32); dls=np.zeros(W,np.float32)
            for i in range(W):
                if i0+i<T: qs[i]=q[n,i0+i]; dos[i]=do[n,i0+i]; ls[i]=lse[n,i0+i]; dls[i]=delta[n,i0+i]
            qi=i0+np.arange(W)
            for warp in range(WARPS):
                for r in range(R):
                    key=warp*R+r; kj=k0+key
                    if kj>=T: continue
                    vis=(kj<=qi)&(qi<T)
                    p=np.where(vis,np.exp(np.float32(scale)*(qs@ks[key])-ls),0).astype(np.float32)
                    ds=np.where(vis,np.float32(scale)*(p*((dos@vs[key])-dls)),0).astype(np.float32)
                    dva[key]+=p@dos; dka[key]+=ds@qs
        for key in range(B):
            if k0+key<T: dk[n,k0+key]=dka[key]; dv[n,k0+key]=dva[key]
    for b in range(N*tiles):  # dq
        n=b%N; t=tiles-1-b//N; q0=t*B
        qs=np.zeros((B,D),np.float32); dos=np.zeros((B,D),np.float32)
        for r in range(B):
            if q0+r<T: qs[r]=q[n,q0+r]; dos[r]=do[n,q0+r]
        acc=np.zeros((B,D),np.float32)
        q_end=min(T,q0+B)
        for k0 in range(0,q_end,W):
            ks=np.zeros((W,D),np.float32); vs=np.zeros((W,D),np.float32)
            for j in range(W):
                if k0+j<T: ks[j]=k[n,k0+j]; vs[j]=v[n,k0+j]
            kj=k0+np.arange(W)
            for warp in range(WARPS):
                for r in range(R):
                    row=warp*R+r; qi=q0+row
                    if qi>=T: continue
                    vis=kj<=qi
                    p=np.where(vis,np.exp(np.float32(scale)*(ks@qs[row])-lse[n,qi]),0)
                    ds=np.where(vis,np.float32(scale)*(p*((vs@dos[row])-delta[n,qi])),0).astype(np.float32)
                    acc[row]+=ds@ks
        for r in range(B):
            if q0+r<T: dq[n,q0+r]=acc[r]
    return dq,dk,dv
def ref(q,k,v,do,scale):
    q,k,v,do=[x.astype(np.float64) for x in (q,k,v,do)]
    N,T,D=q.shape; mask=np.tril(np.ones((T,T),bool))
    s=scale*np.einsum('nid,njd->nij',q,k); s=np.where(mask,s,-np.inf)
    m=s.max(-1,keepdims=True); p=np.exp(s-m); l=p.sum(-1,keepdims=True); p/=l
    o=p@v; lse=(m+np.log(l))[...,0]
    dp=do@v.transpose(0,2,1); ds=p*(dp-(p*dp).sum(-1,keepdims=True))
    dq=scale*ds@k; dk=scale*ds.transpose(0,2,1)@q; dv=p.transpose(0,2,1)@do
    return o,lse,dq,dk,dv
rng=np.random.default_rng(0)
for D in (32,64,128):
    for T in (1,7,33,64,130):
        N=2; q,k,v,do=[rng.uniform(-1,1,(N,T,D)).astype(np.float32) for _ in range(4)]
        sc=1/np.sqrt(D)
        o,lse=fwd(q,k,v,sc); dq,dk,dv=bwd(q,k,v,o,do,lse,sc)
        R=ref(q,k,v,do,sc)
        errs=[np.abs(a-b).max()/max(np.abs(b).max(),1e-2) for a,b in zip((o,lse,dq,dk,dv),R)]
        assert all(np.isfinite(x).all() for x in (o,lse,dq,dk,dv)), (D,T)
        print(D,T,' '.join('%.1e'%e for e in errs))
        assert max(errs)<1e-5,(D,T,errs)
print("ok")
